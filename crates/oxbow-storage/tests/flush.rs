mod common;

use std::sync::Arc;

use common::*;
use oxbow_storage::{LogConfig, TopicPartition};

#[test]
fn given_many_threads_when_flushing_concurrently_should_all_complete_and_advance_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let logs: Vec<_> = (0..4)
        .map(|p| {
            mgr.create(&TopicPartition::new("orders", p), LogConfig::default())
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            let log = Arc::clone(&logs[t % logs.len()]);
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let info = log.append(&batch(1, 50, 1), 0).unwrap();
                    let rx = mgr.flush(vec![(log.clone(), info.last_offset + 1)]);
                    rx.blocking_recv().unwrap().unwrap();
                    assert!(log.recovery_point() > info.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for log in &logs {
        assert_eq!(log.log_end_offset(), 80);
        assert_eq!(log.recovery_point(), 80);
    }
}

#[test]
fn given_flush_when_awaited_from_tokio_should_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(3, 50, 1), 0).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async { mgr.flush(vec![(log.clone(), 3)]).await.unwrap().unwrap() });
    assert_eq!(log.recovery_point(), 3);
}
