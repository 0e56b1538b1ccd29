//! One lifecycle for everything that runs beside request handling: the storage engine's
//! threads (group-commit flusher, log cleaner), periodic work (segment rolls and checkpoints,
//! retention), the group coordinator's timers, the Kafka listeners, and every HTTP listener or
//! background task to come.
//!
//! Services are started in order, report their [`Health`], and are stopped in the reverse order
//! at shutdown, each within a time limit: listeners first (no new requests), then the work that
//! writes to storage, storage last.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// What a service says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Running,
    /// Running, but not fully serving (e.g. a log directory offline).
    Degraded(String),
    Stopped,
}

/// Handed to a service task: when to stop, and where to report health.
#[derive(Clone)]
pub struct ServiceContext {
    shutdown: watch::Receiver<bool>,
    health: Arc<RwLock<Health>>,
}

impl ServiceContext {
    /// Completes when the service is asked to stop.
    pub async fn stopped(&mut self) {
        while !*self.shutdown.borrow_and_update() {
            if self.shutdown.changed().await.is_err() {
                return;
            }
        }
    }

    /// A receiver for code that selects on the shutdown signal itself.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    pub fn set_health(&self, health: Health) {
        *self.health.write() = health;
    }
}

enum Stop {
    /// An async task, told to stop through its context and awaited.
    Task {
        stop: watch::Sender<bool>,
        join: JoinHandle<()>,
    },
    /// Something that runs on its own threads, stopped by a call (on a blocking thread).
    Call(Box<dyn FnOnce() + Send>),
}

struct Entry {
    name: String,
    health: Arc<RwLock<Health>>,
    stop: Stop,
}

/// The broker's services, in start order.
#[derive(Default)]
pub struct Services {
    entries: Mutex<Vec<Entry>>,
}

/// How long one service may take to stop before shutdown moves on.
const STOP_LIMIT: Duration = Duration::from_secs(30);

impl Services {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts an async service on the current runtime. `run` should return once
    /// [`ServiceContext::stopped`] completes.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, run: F)
    where
        F: FnOnce(ServiceContext) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, shutdown) = watch::channel(false);
        let health = Arc::new(RwLock::new(Health::Running));
        let ctx = ServiceContext {
            shutdown,
            health: health.clone(),
        };
        let name = name.into();
        let join = tokio::spawn(run(ctx));
        info!(service = name, "service started");
        self.entries.lock().push(Entry {
            name,
            health,
            stop: Stop::Task { stop, join },
        });
    }

    /// Starts a periodic job that may block (disk work): it runs on the blocking pool every
    /// `every`, never on the async worker threads, and one run at a time.
    pub fn every<J>(&self, name: &'static str, every: Duration, job: J)
    where
        J: Fn() + Send + Sync + 'static,
    {
        let job = Arc::new(job);
        self.spawn(name, move |mut ctx| async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ctx.stopped() => break,
                    _ = tick.tick() => {
                        let job = job.clone();
                        if tokio::task::spawn_blocking(move || job()).await.is_err() {
                            ctx.set_health(Health::Degraded(format!("{name} panicked")));
                        }
                    }
                }
            }
        });
    }

    /// Registers a service that runs on its own threads (already started), with how to stop it.
    pub fn register<S>(&self, name: impl Into<String>, stop: S)
    where
        S: FnOnce() + Send + 'static,
    {
        let name = name.into();
        info!(service = name, "service started");
        self.entries.lock().push(Entry {
            name,
            health: Arc::new(RwLock::new(Health::Running)),
            stop: Stop::Call(Box::new(stop)),
        });
    }

    /// Every service's name and health, in start order.
    pub fn health(&self) -> Vec<(String, Health)> {
        self.entries
            .lock()
            .iter()
            .map(|e| (e.name.clone(), e.health.read().clone()))
            .collect()
    }

    /// Stops every service, last started first, each within [`STOP_LIMIT`].
    pub async fn shutdown(&self) {
        let entries: Vec<Entry> = std::mem::take(&mut *self.entries.lock());
        for entry in entries.into_iter().rev() {
            let started = Instant::now();
            let name = entry.name.as_str();
            let done = match entry.stop {
                Stop::Task { stop, join } => {
                    let _ = stop.send(true);
                    tokio::time::timeout(STOP_LIMIT, join).await.is_ok()
                }
                Stop::Call(stop) => {
                    tokio::time::timeout(STOP_LIMIT, tokio::task::spawn_blocking(stop))
                        .await
                        .is_ok()
                }
            };
            *entry.health.write() = Health::Stopped;
            if done {
                info!(
                    service = name,
                    ms = started.elapsed().as_millis() as u64,
                    "service stopped"
                );
            } else {
                warn!(
                    service = name,
                    limit_s = STOP_LIMIT.as_secs(),
                    "service did not stop in time; shutdown goes on"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn given_services_when_shut_down_should_stop_in_reverse_start_order() {
        let services = Services::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        services.register("storage", move || o.lock().push("storage"));
        let o = order.clone();
        services.spawn("ticker", move |mut ctx| async move {
            ctx.stopped().await;
            o.lock().push("ticker");
        });
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        services.every("periodic", Duration::from_millis(5), move || {
            r.fetch_add(1, Ordering::Relaxed);
        });
        let o = order.clone();
        services.register("listener", move || o.lock().push("listener"));
        while runs.load(Ordering::Relaxed) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(services.health().iter().all(|(_, h)| *h == Health::Running));
        services.shutdown().await;
        assert_eq!(*order.lock(), vec!["listener", "ticker", "storage"]);
        assert!(services.health().is_empty());
    }
}
