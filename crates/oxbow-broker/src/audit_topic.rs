//! The copy of the audit log into a topic (`security.audit_topic`): one record per audit line,
//! keyed by the principal, appended by the audit writer thread after the file. The topic is
//! created on first use (one partition, `cleanup.policy=delete`, the broker's retention);
//! clients may read it with READ on the topic, but Produce to it is refused as to an internal
//! topic, so nobody can forge audit events.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use oxbow_coordinator::context::CoordinatorContext;
use oxbow_coordinator::state_store;
use tracing::warn;

use crate::Broker;

/// Whether `topic` is the audit topic of this broker.
pub fn is_audit_topic(broker: &Broker, topic: &str) -> bool {
    let t = &broker.config.security.audit_topic;
    !t.is_empty() && t == topic
}

/// Starts copying audit lines to the audit topic, if one is configured.
pub fn attach(broker: &Arc<Broker>) {
    let topic = broker.config.security.audit_topic.clone();
    if topic.is_empty() {
        return;
    }
    let weak: Weak<Broker> = Arc::downgrade(broker);
    let mut warned = false;
    broker.audit.attach(Box::new(move |lines: &[String]| {
        let Some(b) = weak.upgrade() else { return };
        let log = match b.internal_log(&topic) {
            Some(log) => log,
            None => {
                let created = b
                    .create_internal_topic(&topic, &[("cleanup.policy", "delete")])
                    .ok()
                    .and_then(|()| b.internal_log(&topic));
                match created {
                    Some(log) => log,
                    None => {
                        if !warned {
                            warn!(topic, "cannot create the audit topic; audit lines go to the file only");
                            warned = true;
                        }
                        return;
                    }
                }
            }
        };
        let records: Vec<(Bytes, Option<Bytes>)> = lines
            .iter()
            .map(|line| {
                let principal = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("principal").and_then(|p| p.as_str()).map(String::from))
                    .unwrap_or_default();
                (Bytes::from(principal), Some(Bytes::from(line.clone())))
            })
            .collect();
        match state_store::append(&*log, &records, crate::now_ms()) {
            Ok(_) => {
                if let Some(p) = b.partition(&topic, 0) {
                    p.notify_data();
                }
                warned = false;
            }
            Err(e) => {
                if !warned {
                    warn!(topic, error = %e, "cannot append to the audit topic; audit lines go to the file only");
                    warned = true;
                }
            }
        }
    }));
}
