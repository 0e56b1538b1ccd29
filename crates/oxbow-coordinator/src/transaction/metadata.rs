//! One transactional id's state (Kafka's TransactionMetadata) and how it is kept in
//! `__transaction_state`: key = the transactional id, value = this struct as JSON, a null value
//! when the id expired (the topic is compacted, so only the latest state of each id stays).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::txn_offsets::TxnOffset;

/// Kafka's transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// Expired: removed from the coordinator (only in memory, never written: a tombstone is).
    Dead,
}

impl TxnState {
    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
        }
    }

    /// A transaction is deciding or writing its markers: other requests wait (retriable
    /// CONCURRENT_TRANSACTIONS).
    pub fn is_completing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// The state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last one was exhausted (KIP-360 retries), -1 if none.
    pub prev_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (a retried InitProducerId or EndTxn is recognised), -1 if none.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the transaction commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// Offsets to apply when a PrepareCommit completes (set when the commit is decided, so a
    /// crash before they reach `__consumer_offsets` re-applies them).
    #[serde(default)]
    pub pending_offsets: Vec<TxnOffset>,
    /// When the current transaction started (its first partition), -1 if none.
    pub txn_start_ms: i64,
    pub last_update_ms: i64,
    /// Whether the producer uses Transaction Version 2 (KIP-890: an epoch bump per transaction).
    #[serde(default)]
    pub tv2: bool,
    /// Transaction Version 2 with the epoch exhausted: the producer id the id moves to once the
    /// decided transaction completes (its markers carry the last epoch of the old id), -1 if none.
    #[serde(default = "no_producer_id")]
    pub next_producer_id: i64,
}

fn no_producer_id() -> i64 {
    -1
}

impl TransactionMetadata {
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            prev_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: Vec::new(),
            txn_start_ms: -1,
            last_update_ms: now_ms,
            tv2: false,
            next_producer_id: -1,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Whether the open transaction has run past its timeout.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.txn_start_ms >= 0
            && now_ms > self.txn_start_ms.saturating_add(i64::from(self.timeout_ms))
    }

    /// Moves to the next epoch; false if the epoch space is exhausted (a new producer id is needed).
    pub fn bump_epoch(&mut self) -> bool {
        if self.producer_epoch >= i16::MAX - 1 {
            return false;
        }
        self.last_producer_epoch = self.producer_epoch;
        self.producer_epoch += 1;
        true
    }

    /// Transaction Version 2's bump at the end of a transaction: the markers carry the next
    /// epoch, which may be the last one (then the id needs a new producer id afterwards: true).
    pub fn bump_epoch_for_markers(&mut self) -> bool {
        self.last_producer_epoch = self.producer_epoch;
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.producer_epoch >= i16::MAX - 1
    }

    /// The producer id and epoch the producer continues with after this transaction.
    pub fn next_producer(&self) -> (i64, i16) {
        if self.next_producer_id >= 0 {
            (self.next_producer_id, 0)
        } else {
            (self.producer_id, self.producer_epoch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_metadata_when_encoded_should_decode_back() {
        let mut m = TransactionMetadata::new("t1", 7, 60_000, 1);
        m.state = TxnState::PrepareCommit;
        m.partitions.insert(("orders".into(), 3));
        m.groups.insert("g".into());
        m.pending_offsets.push(TxnOffset {
            group: "g".into(),
            topic: "in".into(),
            partition: 0,
            offset: 42,
            leader_epoch: -1,
            metadata: String::new(),
        });
        assert_eq!(TransactionMetadata::decode(&m.encode()), Some(m));
        assert_eq!(TransactionMetadata::decode(b"{not json"), None);
    }

    #[test]
    fn given_ongoing_transaction_when_timeout_passes_should_be_timed_out() {
        let mut m = TransactionMetadata::new("t1", 7, 1_000, 0);
        m.state = TxnState::Ongoing;
        m.txn_start_ms = 10;
        assert!(!m.timed_out(1_010));
        assert!(m.timed_out(1_011));
        m.producer_epoch = i16::MAX - 1;
        assert!(!m.bump_epoch());
    }
}
