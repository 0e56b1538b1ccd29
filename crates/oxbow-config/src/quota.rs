//! `[quota]`: how client quotas are measured and enforced. The quotas themselves (by user and/or
//! client id) are set with AlterClientQuotas (`oxbow quota set`), not here.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// `[quota]` (Kafka's `quota.window.*` keys, for a token bucket instead of sampled windows).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// How much unused quota a client may save up and spend at once, as time at its quota rate:
    /// a client idle for a while may send `rate × window_ms` bytes without being throttled.
    /// Default 1000 (Kafka's `quota.window.size.seconds` = 1); 100..=60000.
    pub window_ms: u64,
    /// The longest a single response throttles (and mutes) a client; a client further over its
    /// quota is throttled again on its next request. Default 10000; 100..=300000.
    pub max_throttle_ms: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            window_ms: 1000,
            max_throttle_ms: 10_000,
        }
    }
}

impl QuotaConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(100..=60_000).contains(&self.window_ms) {
            return Err(ConfigError::Bounds {
                key: "quota.window_ms",
                value: self.window_ms.to_string(),
                reason: "must be 100..=60000",
            });
        }
        if !(100..=300_000).contains(&self.max_throttle_ms) {
            return Err(ConfigError::Bounds {
                key: "quota.max_throttle_ms",
                value: self.max_throttle_ms.to_string(),
                reason: "must be 100..=300000",
            });
        }
        Ok(())
    }
}
