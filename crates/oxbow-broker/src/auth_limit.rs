//! Failed authentications, per client address: each failure is answered after
//! `security.failed_authentication_delay_ms` (Kafka's `connection.failed.authentication.delay.ms`),
//! and an address that failed `security.max_failed_authentications_per_minute` times in a minute
//! is refused without its credentials being checked until the minute is over — a password
//! guesser gets a handful of tries a minute, and the broker spends nothing on the rest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const WINDOW: Duration = Duration::from_secs(60);
const MAX_ADDRESSES: usize = 100_000;

pub struct AuthFailureLimiter {
    per_minute: u32,
    delay: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AuthFailureLimiter {
    /// `per_minute` 0: no limit.
    pub fn new(per_minute: u32, delay_ms: u64) -> Self {
        Self {
            per_minute,
            delay: Duration::from_millis(delay_ms),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How long a failure's answer waits.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Whether `ip` has used up its failures for the current minute.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        if self.per_minute == 0 {
            return false;
        }
        match self.seen.lock().get(&ip) {
            Some((since, n)) => since.elapsed() < WINDOW && *n >= self.per_minute,
            None => false,
        }
    }

    /// Counts a failure of `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let mut seen = self.seen.lock();
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = seen.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_failures_when_counted_should_block_the_address_only() {
        let l = AuthFailureLimiter::new(3, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            l.failed(a);
        }
        assert!(!l.blocked(a));
        l.failed(a);
        assert!(l.blocked(a));
        assert!(!l.blocked(b));
        assert!(!AuthFailureLimiter::new(0, 0).blocked(a));
    }
}
