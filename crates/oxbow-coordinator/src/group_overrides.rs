//! Per-group overrides of the KIP-848 consumer settings (Kafka 4.0's group configs
//! `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`, set with
//! IncrementalAlterConfigs on the GROUP resource). The broker persists them and hands them here;
//! the coordinator applies them to the group's members: their session expiry and the heartbeat
//! interval they are told.

use std::borrow::Cow;
use std::collections::HashMap;

use oxbow_config::GroupConfig;

/// What one group overrides (`None`: the broker's setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupOverrides {
    pub consumer_session_timeout_ms: Option<i32>,
    pub consumer_heartbeat_interval_ms: Option<i32>,
}

impl GroupOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The broker's settings with this group's overrides applied.
    pub fn apply<'a>(&self, cfg: &'a GroupConfig) -> Cow<'a, GroupConfig> {
        if self.is_empty() {
            return Cow::Borrowed(cfg);
        }
        let mut out = cfg.clone();
        if let Some(v) = self.consumer_session_timeout_ms {
            out.consumer_session_timeout_ms = v;
        }
        if let Some(v) = self.consumer_heartbeat_interval_ms {
            out.consumer_heartbeat_interval_ms = v;
        }
        Cow::Owned(out)
    }
}

/// Every group's overrides, by group id.
pub type OverrideTable = HashMap<String, GroupOverrides>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_override_when_applied_should_change_only_that_setting() {
        let cfg = GroupConfig::default();
        let o = GroupOverrides {
            consumer_heartbeat_interval_ms: Some(7000),
            ..Default::default()
        };
        let eff = o.apply(&cfg);
        assert_eq!(eff.consumer_heartbeat_interval_ms, 7000);
        assert_eq!(
            eff.consumer_session_timeout_ms,
            cfg.consumer_session_timeout_ms
        );
        assert!(matches!(
            GroupOverrides::default().apply(&cfg),
            Cow::Borrowed(_)
        ));
    }
}
