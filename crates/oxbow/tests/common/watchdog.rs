//! A per-broker time limit for integration tests. A test that hangs (a client stuck in close, a
//! broker that stopped answering) must fail with something to read, not stall the whole suite
//! until CI gives up: when a [`TestBroker`](super::TestBroker) outlives its limit, the watchdog
//! prints the test's name and the broker's log tail, SIGKILLs every broker this process started
//! and exits the test binary with a failure.
//!
//! The limit is `OXBOW_TEST_TIMEOUT_SECS` (default 300 s) from the broker's first start.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Watched {
    test: String,
    deadline: Instant,
    log_path: PathBuf,
    pid: Option<u32>,
}

fn registry() -> &'static Mutex<HashMap<u64, Watched>> {
    static REG: OnceLock<Mutex<HashMap<u64, Watched>>> = OnceLock::new();
    REG.get_or_init(|| {
        std::thread::Builder::new()
            .name("oxbow-test-watchdog".into())
            .spawn(watch)
            .expect("spawn the test watchdog");
        Mutex::new(HashMap::new())
    })
}

fn limit() -> Duration {
    let secs = std::env::var("OXBOW_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Starts watching a broker; returns the handle to pass to [`update_pid`] and [`release`].
pub fn register(log_path: PathBuf) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    let entry = Watched {
        test,
        deadline: Instant::now() + limit(),
        log_path,
        pid: None,
    };
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, entry);
    id
}

/// Records the broker's current process id (it changes on restart), or None when it is down.
pub fn update_pid(id: u64, pid: Option<u32>) {
    if let Some(w) = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(&id)
    {
        w.pid = pid;
    }
}

/// Stops watching (the broker was dropped).
pub fn release(id: u64) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let Some(late) = reg.values().find(|w| now > w.deadline) else {
            continue;
        };
        // Straight to fd 2: `eprintln!` from here would land in the test's capture buffer, which
        // is lost when the process exits.
        let _ = writeln!(
            std::io::stderr(),
            "\n==== TEST TIMEOUT: `{}` still running after {:?}; aborting this test binary ====\n\
             ---- oxbow broker log tail ({}) ----\n{}",
            late.test,
            limit(),
            late.log_path.display(),
            super::file_tail(&late.log_path, 80)
        );
        for w in reg.values() {
            if let Some(pid) = w.pid {
                // SAFETY: kill(2) on a broker child this process spawned and has not reaped.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        std::process::exit(124);
    }
}
