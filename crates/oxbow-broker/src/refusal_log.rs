//! Rate-limited logging of refused requests (unknown API keys, unserved versions, malformed
//! frames): one line per
//! client, address, API and version per minute, carrying how many were refused in between. An
//! old client retrying an API the broker does not serve otherwise writes a line per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often one kind of refusal is logged.
const EVERY: Duration = Duration::from_secs(60);
/// Distinct kinds remembered at most (beyond that the memory is reset, never grown).
const MAX_KINDS: usize = 10_000;

type Kind = (String, IpAddr, i16, i16);

#[derive(Default)]
pub struct RefusalLog {
    kinds: Mutex<HashMap<Kind, (Instant, u64)>>,
}

impl RefusalLog {
    /// Counts a refusal; `Some(n)` when it should be logged now, `n` being how many of this kind
    /// were refused since the last line (0 for the first).
    pub fn note(&self, client_id: &str, ip: IpAddr, api_key: i16, version: i16) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self.kinds.lock();
        if kinds.len() >= MAX_KINDS {
            kinds.clear();
        }
        match kinds.get_mut(&(client_id.to_string(), ip, api_key, version)) {
            Some((last, suppressed)) if now.duration_since(*last) < EVERY => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let n = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                kinds.insert((client_id.to_string(), ip, api_key, version), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_repeated_refusals_when_noted_should_log_once_per_kind() {
        let log = RefusalLog::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(log.note("sarama", ip, 8, 1), Some(0));
        for _ in 0..1500 {
            assert_eq!(log.note("sarama", ip, 8, 1), None);
        }
        assert_eq!(
            log.note("sarama", ip, 9, 0),
            Some(0),
            "another API is another kind"
        );
        assert_eq!(
            log.note("kafka-go", ip, 8, 1),
            Some(0),
            "another client too"
        );
    }
}
