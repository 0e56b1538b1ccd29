//! A connection's mute (KIP-219): when a quota throttles a client, the broker answers at once with
//! `throttle_time_ms` and stops reading the connection's next requests until that time has
//! passed, so a client that ignores the hint is held back all the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// When the connection may be read again; shared by every copy of the connection's session.
#[derive(Debug, Default)]
pub struct ThrottleGate {
    /// Microseconds since [`epoch`] until which reading is muted (0: not muted).
    until_us: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl ThrottleGate {
    /// Mutes the connection for `d` from now (a longer mute already set is kept).
    pub fn mute_for(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let until = now_us().saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.until_us.fetch_max(until, Ordering::Relaxed);
    }

    /// How long the connection stays muted from now.
    pub fn remaining(&self) -> Duration {
        let until = self.until_us.load(Ordering::Relaxed);
        Duration::from_micros(until.saturating_sub(now_us()))
    }

    /// Waits until the connection is no longer muted.
    pub async fn wait(&self) {
        loop {
            let left = self.remaining();
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn given_mute_when_waiting_should_return_after_the_longest_mute() {
        let gate = ThrottleGate::default();
        assert!(gate.remaining().is_zero());
        gate.mute_for(Duration::from_millis(60));
        gate.mute_for(Duration::from_millis(10));
        let start = Instant::now();
        gate.wait().await;
        assert!(start.elapsed() >= Duration::from_millis(55));
        assert!(gate.remaining().is_zero());
    }
}
