//! Readers catching up on data that has left the page cache (the broker's catch-up path): every
//! record comes back, in order, both at full speed and while `acks=all` producers keep the disk
//! busy with fsyncs (when reads go in paced pieces).

mod common;

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

const RECORDS: usize = 3_000;
const RECORD_BYTES: usize = 2_000;

/// Drops the partition's segment files from the page cache (they are synced first: only clean
/// pages can be dropped), so the next reads must go to the disk.
fn evict_from_page_cache(partition_dir: &Path) {
    for entry in std::fs::read_dir(partition_dir).expect("read partition dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("log") {
            continue;
        }
        let f = std::fs::File::open(&path).expect("open segment");
        f.sync_data().expect("sync segment");
        // SAFETY: posix_fadvise on a descriptor we own; it only drops clean cached pages.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise(DONTNEED) on {}", path.display());
    }
}

fn payload(i: usize) -> String {
    format!("{i:08}-{}", "x".repeat(RECORD_BYTES - 9))
}

async fn fill(broker: &TestBroker, topic: &str) {
    broker
        .create_topic(topic, 1, &[("segment.bytes", "1048576")])
        .await;
    let producer = broker.producer(&[("linger.ms", "5"), ("acks", "1")]);
    let mut acks = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let v = payload(i);
        acks.push(enqueue(&producer, FutureRecord::<(), _>::to(topic).payload(&v)).await);
    }
    for a in acks {
        a.await.expect("delivery").expect("produce");
    }
    assert!(
        segment_count(&broker.data_dir().join(format!("{topic}-0"))) > 3,
        "several segments, so that most reads are of older ones"
    );
}

async fn assert_reads_everything_in_order(broker: &TestBroker, topic: &str) {
    let got = broker
        .consume_n(topic, &[0], RECORDS, Duration::from_secs(60))
        .await;
    assert_eq!(got.len(), RECORDS, "records read back");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.offset(), i as i64);
        assert_eq!(value(m), payload(i), "record {i}");
    }
}

#[tokio::test]
async fn given_evicted_segments_when_reading_from_the_beginning_should_return_every_record() {
    let broker = TestBroker::start();
    let topic = unique_topic("catchup-idle");
    fill(&broker, &topic).await;
    evict_from_page_cache(&broker.data_dir().join(format!("{topic}-0")));
    assert_reads_everything_in_order(&broker, &topic).await;
}

#[tokio::test]
async fn given_acks_all_producers_when_a_reader_catches_up_from_disk_should_read_everything_and_not_stall_them(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("catchup-busy");
    fill(&broker, &topic).await;
    let busy = unique_topic("catchup-writer");
    broker.create_topic(&busy, 1, &[]).await;
    evict_from_page_cache(&broker.data_dir().join(format!("{topic}-0")));

    // An acks=all producer keeps fsyncs going the whole time the reader catches up.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let producer = broker.producer(&[("acks", "all"), ("linger.ms", "1")]);
        let (stop, busy) = (stop.clone(), busy.clone());
        tokio::spawn(async move {
            let mut acked = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let rec = FutureRecord::<(), _>::to(&busy).payload("tick");
                producer
                    .send(rec, Duration::from_secs(10))
                    .await
                    .expect("acks=all produce while a reader catches up");
                acked += 1;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_reads_everything_in_order(&broker, &topic).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await.expect("writer task");
    assert!(acked > 0, "the acks=all producer made progress");
}
