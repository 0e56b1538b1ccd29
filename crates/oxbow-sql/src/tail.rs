//! The live tail of a table's topic: the committed records past the offsets the table has
//! landed, read from the broker's logs up to each partition's last stable offset — what the
//! next commits will write.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxbow_lake::{SourceRecord, TopicSource};

/// Bytes asked of a partition per read.
const READ_BYTES: usize = 1 << 20;

/// The tail's records, partition by partition, at most `max_records` in all.
pub fn read(
    source: &Arc<dyn TopicSource>,
    topic: &str,
    landed: &BTreeMap<i32, i64>,
    partitions: i32,
    max_records: usize,
) -> Result<Vec<(i32, SourceRecord)>, String> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let mut at = landed.get(&p).copied().unwrap_or(0);
        loop {
            if out.len() >= max_records {
                return Ok(out);
            }
            let r = source.read(topic, p, at, READ_BYTES)?;
            let room = max_records - out.len();
            let progressed = r.next_offset > at;
            out.extend(r.records.into_iter().take(room).map(|rec| (p, rec)));
            at = r.next_offset;
            if !progressed || at >= r.stable_offset {
                break;
            }
        }
    }
    Ok(out)
}
