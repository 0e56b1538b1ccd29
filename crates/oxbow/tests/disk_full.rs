//! Disk full: produce fails with KAFKA_STORAGE_ERROR, nothing already written is damaged, and
//! writes resume once space returns. Runs on a small tmpfs (needs root to mount; CI runs as root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::TestBroker;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

struct Tmpfs {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mount = dir.path().join("mnt");
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs { mount, _dir: dir })
    }
    fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_full_disk_when_producing_should_fail_cleanly_keep_data_and_resume_when_space_returns(
) {
    let fs = match Tmpfs::mount("6m") {
        Ok(fs) => fs,
        Err(why) => {
            // Without root there is no small filesystem to fill; say so loudly rather than pass silently.
            eprintln!("SKIPPED disk-full test: cannot mount tmpfs: {why}");
            return;
        }
    };
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; 2 * 1024 * 1024]).expect("write ballast");
    let data = fs.path().join("data");
    let mut broker = TestBroker::builder().with_data_dir(&data).start();
    let topic = common::unique_topic("full");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[
        ("acks", "all"),
        ("retries", "0"),
        ("message.timeout.ms", "5000"),
        ("linger.ms", "0"),
    ]);

    let payload = vec![b'x'; 1000];
    let mut acked = Vec::new();
    let mut storage_error = None;
    for i in 0..20_000u32 {
        let key = i.to_string();
        match producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
        {
            Ok(delivery) => acked.push((i, delivery.offset)),
            Err((e, _)) => {
                storage_error = Some(e);
                break;
            }
        }
    }
    let err =
        storage_error.expect("the disk filled up before 20 MB were written to a 6 MB filesystem");
    assert!(
        matches!(
            err,
            KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
        ),
        "expected KAFKA_STORAGE_ERROR, got {err:?}"
    );
    assert!(acked.len() > 100, "some records fit before the disk filled");
    assert!(broker.is_running(), "the broker survives a full disk");

    std::fs::remove_file(&ballast).expect("free space");
    let mut resumed = false;
    for _ in 0..50 {
        if producer
            .send(
                FutureRecord::to(&topic)
                    .key("after")
                    .payload("space returned"),
                Duration::from_secs(10),
            )
            .await
            .is_ok()
        {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        resumed,
        "writes resume once space returns:\n{}",
        broker.log_tail(30)
    );

    // Every acknowledged record is intact, once, in order; survives a restart too.
    broker.kill9();
    broker.restart();
    let messages = broker
        .consume_to_end(&topic, &[0], Duration::from_secs(30))
        .await;
    let keys: Vec<String> = messages.iter().filter_map(common::key).collect();
    for (i, offset) in &acked {
        let m = messages
            .iter()
            .find(|m| m.offset() == *offset)
            .unwrap_or_else(|| panic!("acked offset {offset} missing"));
        assert_eq!(common::key(m).as_deref(), Some(i.to_string().as_str()));
    }
    assert_eq!(keys.iter().filter(|k| k.as_str() == "after").count(), 1);
    drop(broker);
}
