//! Incremental fetch sessions (KIP-227).
//!
//! A client that sends `session_epoch = 0` gets a session id; later requests name the session and
//! the next epoch and list only partitions whose fetch position changed (plus `forgotten` ones).
//! The broker answers only partitions with something new: records, a changed high watermark, last
//! stable offset or log start offset, or an error. Epoch -1 is a sessionless full fetch.

use std::collections::HashMap;
use std::time::Instant;

use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use parking_lot::Mutex;

/// One partition a fetch reads.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    pub topic: String,
    pub topic_id: uuid::Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
}

/// What was last sent for a partition, to decide whether an incremental response includes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionMark {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

struct SessionPartition {
    target: FetchTarget,
    last_sent: Option<PartitionMark>,
}

struct FetchSession {
    next_epoch: i32,
    partitions: IndexMap<(String, i32), SessionPartition>,
    last_used: Instant,
}

/// How a fetch request relates to sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// Epoch -1: full request, full response, session id 0.
    Sessionless,
    /// Epoch 0: full request; the response carries this new session id (0 if the cache is full).
    New(i32),
    /// Epoch > 0: the response lists only partitions with changes.
    Incremental(i32),
}

pub struct FetchSessionCache {
    capacity: usize,
    sessions: Mutex<HashMap<i32, FetchSession>>,
    next_id: Mutex<i32>,
}

impl FetchSessionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            sessions: Mutex::new(HashMap::new()),
            next_id: Mutex::new(1),
        }
    }

    /// Resolves the request's session and returns the partitions to fetch.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        targets: Vec<FetchTarget>,
        forgotten: &[(String, i32)],
    ) -> Result<(SessionMode, Vec<FetchTarget>), ResponseError> {
        let mut sessions = self.sessions.lock();
        if epoch == -1 {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            return Ok((SessionMode::Sessionless, targets));
        }
        if epoch == 0 {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            if sessions.len() >= self.capacity {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id);
                if let Some(id) = oldest {
                    sessions.remove(&id);
                }
            }
            let id = {
                let mut next = self.next_id.lock();
                let id = *next;
                *next = if *next == i32::MAX { 1 } else { *next + 1 };
                id
            };
            let partitions = targets
                .iter()
                .map(|t| {
                    (
                        (t.topic.clone(), t.partition),
                        SessionPartition {
                            target: t.clone(),
                            last_sent: None,
                        },
                    )
                })
                .collect();
            sessions.insert(
                id,
                FetchSession {
                    next_epoch: 1,
                    partitions,
                    last_used: Instant::now(),
                },
            );
            return Ok((SessionMode::New(id), targets));
        }
        let session = sessions
            .get_mut(&session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound)?;
        if session.next_epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.last_used = Instant::now();
        for key in forgotten {
            session.partitions.shift_remove(key);
        }
        for t in targets {
            let key = (t.topic.clone(), t.partition);
            match session.partitions.get_mut(&key) {
                Some(existing) => existing.target = t,
                None => {
                    session.partitions.insert(
                        key,
                        SessionPartition {
                            target: t,
                            last_sent: None,
                        },
                    );
                }
            }
        }
        let all = session
            .partitions
            .values()
            .map(|p| p.target.clone())
            .collect();
        Ok((SessionMode::Incremental(session_id), all))
    }

    /// Records what a response carried; returns, per target in order, whether an incremental
    /// response must include it. `has_news[i]` is true when records or an error go out for it.
    pub fn finish(
        &self,
        mode: SessionMode,
        targets: &[FetchTarget],
        marks: &[PartitionMark],
        has_news: &[bool],
    ) -> Vec<bool> {
        let id = match mode {
            SessionMode::Sessionless => return vec![true; targets.len()],
            SessionMode::New(id) | SessionMode::Incremental(id) => id,
        };
        let incremental = matches!(mode, SessionMode::Incremental(_));
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(&id) else {
            return vec![true; targets.len()];
        };
        targets
            .iter()
            .zip(marks.iter().zip(has_news))
            .map(|(t, (mark, news))| {
                let Some(p) = session.partitions.get_mut(&(t.topic.clone(), t.partition)) else {
                    return !incremental;
                };
                let changed = p.last_sent != Some(*mark);
                p.last_sent = Some(*mark);
                !incremental || *news || changed
            })
            .collect()
    }

    /// Drops a deleted topic's partitions from every session.
    pub fn forget_topic(&self, topic: &str) {
        for s in self.sessions.lock().values_mut() {
            s.partitions.retain(|(t, _), _| t != topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(p: i32) -> FetchTarget {
        FetchTarget {
            topic: "t".into(),
            topic_id: uuid::Uuid::nil(),
            partition: p,
            fetch_offset: 0,
            max_bytes: 1024,
        }
    }

    #[test]
    fn given_session_when_fetching_incrementally_should_send_only_changes() {
        let cache = FetchSessionCache::new(10);
        let (mode, all) = cache.begin(0, 0, vec![target(0), target(1)], &[]).unwrap();
        let SessionMode::New(id) = mode else {
            panic!("expected a new session")
        };
        let mark = PartitionMark::default();
        assert_eq!(
            cache.finish(mode, &all, &[mark, mark], &[false, false]),
            vec![true, true]
        );
        let (mode, all) = cache.begin(id, 1, vec![], &[]).unwrap();
        assert_eq!(all.len(), 2);
        let moved = PartitionMark {
            high_watermark: 5,
            ..mark
        };
        assert_eq!(
            cache.finish(mode, &all, &[mark, moved], &[false, false]),
            vec![false, true]
        );
        assert_eq!(
            cache.begin(id, 1, vec![], &[]).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            cache.begin(99, 1, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        let (_, all) = cache.begin(id, 2, vec![], &[("t".into(), 0)]).unwrap();
        assert_eq!(all.len(), 1);
    }
}
