//! Client quotas (Kafka's `ClientQuotaManager`): produce and fetch byte rates and request-time
//! percentages, set per user and/or client id ([`entity`], persisted by [`store`]), measured per
//! quota entity with a token bucket, and enforced as KIP-219 describes: a client over its quota
//! is answered at once with `throttle_time_ms` (how long until it is back within its rate) and
//! its connection is not read for that long, so a client backs off instead of failing.
//!
//! With no quota set, recording costs one atomic load.

pub mod entity;
pub mod reply;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oxbow_config::QuotaConfig;
use oxbow_net::Session;
use parking_lot::Mutex;

use entity::{QuotaEntity, QuotaKind};
use store::{QuotaOp, QuotaStore, QuotaValues};

/// Distinct measured entities kept before idle ones are forgotten.
const MAX_SENSORS: usize = 100_000;

/// A rate measured as a token bucket: it fills at the quota's rate up to `rate × window`; what
/// a request uses is taken out (it may go below zero); a negative balance is the time the client
/// must wait.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn record(&mut self, amount: f64, rate: f64, window: Duration, now: Instant) -> Duration {
        let capacity = rate * window.as_secs_f64();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(capacity) - amount;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

/// What recording a request earned: how long the client is throttled, and by which quota.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throttle {
    pub time: Duration,
    /// The quota key and entity that throttled (`producer_byte_rate`, `user=alice`).
    pub by: Option<(&'static str, String)>,
}

impl Throttle {
    pub fn is_zero(&self) -> bool {
        self.time.is_zero()
    }

    /// The longer of two throttles (Kafka throttles by the largest violation).
    pub fn max(self, other: Throttle) -> Throttle {
        if other.time > self.time {
            other
        } else {
            self
        }
    }

    pub fn millis(&self) -> i32 {
        i32::try_from(self.time.as_millis()).unwrap_or(i32::MAX)
    }
}

/// The quotas, the measured rates, and the throttle decisions.
pub struct ClientQuotaManager {
    store: QuotaStore,
    config: QuotaConfig,
    /// Whether any quota is set (the fast path when none is).
    any: AtomicBool,
    sensors: Mutex<HashMap<(QuotaKind, String, String), Bucket>>,
}

impl ClientQuotaManager {
    pub fn open(meta_dir: &Path, config: QuotaConfig) -> std::io::Result<Self> {
        let store = QuotaStore::open(meta_dir)?;
        let any = AtomicBool::new(!store.is_empty());
        Ok(Self {
            store,
            config,
            any,
            sensors: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &QuotaStore {
        &self.store
    }

    /// Applies AlterClientQuotas changes (durable before it returns).
    pub fn alter(
        &self,
        changes: &[(QuotaEntity, Vec<QuotaOp>)],
    ) -> std::io::Result<Vec<QuotaValues>> {
        let after = self.store.alter(changes)?;
        self.any.store(!self.store.is_empty(), Ordering::Relaxed);
        Ok(after)
    }

    /// The quota of `kind` that applies to this session's user and client id: the most specific
    /// entity that sets it, and its rate.
    pub fn quota_for(
        &self,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
    ) -> Option<(QuotaEntity, f64)> {
        QuotaEntity::candidates(user, client_id)
            .into_iter()
            .find_map(|e| self.store.get(&e, kind.key()).map(|v| (e, v)))
    }

    /// Records `amount` against the session's quota of `kind`; the throttle time it earned.
    fn record(&self, kind: QuotaKind, session: &Session, amount: f64) -> Throttle {
        if !self.any.load(Ordering::Relaxed) || amount <= 0.0 {
            return Throttle::default();
        }
        let user = &session.principal.name;
        let client_id = &session.client_id;
        let Some((entity, quota)) = self.quota_for(kind, user, client_id) else {
            return Throttle::default();
        };
        // request_percentage is percent of one thread: that many hundredths of a second of
        // handler time per second.
        let rate = match kind {
            QuotaKind::Request => quota / 100.0,
            _ => quota,
        };
        let (u, c) = entity.sensor_key(user, client_id);
        let now = Instant::now();
        let window = Duration::from_millis(self.config.window_ms);
        let mut sensors = self.sensors.lock();
        if sensors.len() >= MAX_SENSORS {
            // Forget entities that have been idle for a whole window (their buckets are full).
            sensors.retain(|_, b| now.saturating_duration_since(b.last) < window);
        }
        let bucket = sensors.entry((kind, u, c)).or_insert_with(|| Bucket {
            tokens: rate * window.as_secs_f64(),
            last: now,
        });
        let time = bucket
            .record(amount, rate, window, now)
            .min(Duration::from_millis(self.config.max_throttle_ms));
        drop(sensors);
        if time.is_zero() {
            return Throttle::default();
        }
        Throttle {
            time,
            by: Some((kind.key(), entity.to_string())),
        }
    }

    /// A produce request of `bytes` (the whole request, as Kafka counts it).
    pub fn record_produce(&self, session: &Session, bytes: usize) -> Throttle {
        self.record(QuotaKind::Produce, session, bytes as f64)
    }

    /// A fetch response of `bytes`.
    pub fn record_fetch(&self, session: &Session, bytes: usize) -> Throttle {
        self.record(QuotaKind::Fetch, session, bytes as f64)
    }

    /// Time a request spent in its handler.
    pub fn record_request_time(&self, session: &Session, spent: Duration) -> Throttle {
        self.record(QuotaKind::Request, session, spent.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_bucket_when_over_rate_should_throttle_for_the_deficit_at_the_rate() {
        let start = Instant::now();
        let window = Duration::from_secs(1);
        let mut b = Bucket {
            tokens: 1000.0,
            last: start,
        };
        assert_eq!(b.record(600.0, 1000.0, window, start), Duration::ZERO);
        // 400 left, 900 taken: 500 short at 1000/s is half a second.
        let t = b.record(900.0, 1000.0, window, start);
        assert!((t.as_secs_f64() - 0.5).abs() < 1e-9, "{t:?}");
        // A second later the bucket has refilled 1000 (to 500), below its capacity.
        let t = b.record(0.0, 1000.0, window, start + Duration::from_secs(1));
        assert_eq!(t, Duration::ZERO);
        // Idle for long: no more than one window's worth is saved up.
        let t = b.record(1500.0, 1000.0, window, start + Duration::from_secs(60));
        assert!((t.as_secs_f64() - 0.5).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn given_quotas_at_several_levels_when_resolving_should_pick_the_most_specific_per_kind() {
        use entity::EntityName::{Default, Name};
        let dir = tempfile::tempdir().unwrap();
        let m = ClientQuotaManager::open(dir.path(), QuotaConfig::default()).unwrap();
        let e = |u: Option<entity::EntityName>, c: Option<entity::EntityName>| QuotaEntity {
            user: u,
            client_id: c,
        };
        m.alter(&[
            (
                e(Some(Default), None),
                vec![("producer_byte_rate".into(), Some(100.0))],
            ),
            (
                e(Some(Name("alice".into())), None),
                vec![("producer_byte_rate".into(), Some(200.0))],
            ),
            (
                e(None, Some(Name("app".into()))),
                vec![("consumer_byte_rate".into(), Some(300.0))],
            ),
        ])
        .unwrap();
        assert_eq!(
            m.quota_for(QuotaKind::Produce, "alice", "app").map(|q| q.1),
            Some(200.0)
        );
        assert_eq!(
            m.quota_for(QuotaKind::Produce, "bob", "app").map(|q| q.1),
            Some(100.0)
        );
        assert_eq!(
            m.quota_for(QuotaKind::Fetch, "alice", "app").map(|q| q.1),
            Some(300.0)
        );
        assert_eq!(m.quota_for(QuotaKind::Fetch, "alice", "other"), None);
        assert_eq!(m.quota_for(QuotaKind::Request, "alice", "app"), None);
    }
}
