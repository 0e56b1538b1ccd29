//! The LogManager: owns one log directory, every partition log in it, the checkpoint files,
//! the clean-shutdown marker, the group-commit flusher and the directory's failure channel.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::api::{LogConfig, LogManagerOptions, TopicPartition};
use crate::checkpoint::{
    self, fsync_dir, LogStartOffsetCheckpoint, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
use crate::cleaner_state::{CleanerHandle, CLEANER_OFFSET_CHECKPOINT};
use crate::error::{Result, StorageError};
use crate::failure::LogDirFailureChannel;
use crate::file_cache::FileCache;
use crate::flusher::Flusher;
use crate::log_loader::load_log;
use crate::unified_log::{LogDirContext, UnifiedLog};

/// Present only while the directory is cleanly shut down.
pub const CLEAN_SHUTDOWN_FILE: &str = ".oxbow-clean-shutdown";
/// Suffix of partition directories being deleted.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Read handles kept open for non-active segments, across all logs.
const FILE_CACHE_CAPACITY: usize = 128;

/// Parses `{topic}-{partition}` (split at the last '-'); None for anything else.
pub fn parse_topic_partition(name: &str) -> Option<TopicPartition> {
    if name.ends_with(DELETE_DIR_SUFFIX) {
        return None;
    }
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    if topic.is_empty() || partition < 0 {
        return None;
    }
    Some(TopicPartition::new(topic, partition))
}

/// Kafka's default `producer.id.expiration.ms`: one day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 3600 * 1000;

pub struct LogManager {
    dir: PathBuf,
    opts: LogManagerOptions,
    logs: RwLock<HashMap<TopicPartition, Arc<UnifiedLog>>>,
    ctx: LogDirContext,
    flusher: Flusher,
    last_checkpoint_ms: AtomicI64,
    /// `ctx.rolls` when recovery points were last checkpointed.
    rolls_at_checkpoint: AtomicU64,
    /// `producer.id.expiration.ms`: idle idempotent producers are forgotten after this long.
    producer_id_expiration_ms: AtomicI64,
    admin: Mutex<()>,
    delete_counter: AtomicU64,
    /// The log cleaner thread, once started.
    pub(crate) cleaner: Mutex<Option<CleanerHandle>>,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

impl LogManager {
    /// Opens (creating if needed) the log directory, loads every partition log found (running recovery).
    /// `config_for(topic)` gives each topic's LogConfig; None means the topic no longer exists: its
    /// partition directory is deleted.
    pub fn open(
        opts: LogManagerOptions,
        config_for: &dyn Fn(&str) -> Option<LogConfig>,
    ) -> Result<Arc<LogManager>> {
        let dir = opts.dir.clone();
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create log directory"))?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let recovery_points = checkpoint::read_checkpoint(&dir.join(RECOVERY_POINT_CHECKPOINT))
            .map_err(io_err(&dir, "read recovery point checkpoint"))?;
        let starts = checkpoint::read_checkpoint(&dir.join(LOG_START_OFFSET_CHECKPOINT))
            .map_err(io_err(&dir, "read log start offset checkpoint"))?;
        let flusher =
            Flusher::start("oxbow-flusher".into()).map_err(io_err(&dir, "start flusher thread"))?;
        let ctx = LogDirContext {
            catch_up: Arc::new(crate::catch_up::CatchUpReader::new(flusher.gauge())),
            failure: Arc::new(LogDirFailureChannel::new(dir.clone())),
            log_start_checkpoint: Arc::new(LogStartOffsetCheckpoint::new(&dir, starts)),
            file_cache: Arc::new(FileCache::new(FILE_CACHE_CAPACITY)),
            rolls: Arc::new(AtomicU64::new(0)),
        };
        let mut logs = HashMap::new();
        let mut to_load = Vec::new();
        let entries = fs::read_dir(&dir).map_err(io_err(&dir, "list log directory"))?;
        for entry in entries {
            let path = entry.map_err(io_err(&dir, "list log directory"))?.path();
            if !path.is_dir() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.ends_with(DELETE_DIR_SUFFIX) {
                tracing::info!(path = %path.display(), "removing partially deleted log");
                fs::remove_dir_all(&path).map_err(io_err(&path, "remove deleted log"))?;
                continue;
            }
            let Some(tp) = parse_topic_partition(&name) else {
                continue;
            };
            let Some(config) = config_for(&tp.topic) else {
                tracing::info!(tp = %tp, path = %path.display(), "topic no longer exists: deleting its log");
                fs::remove_dir_all(&path).map_err(io_err(&path, "remove log of deleted topic"))?;
                ctx.log_start_checkpoint.remove(&tp);
                continue;
            };
            to_load.push((path, tp, config));
        }
        // Recover logs on several threads (Kafka's num.recovery.threads.per.data.dir): after a
        // crash each log's tail is read and checked, and the disk serves parallel streams better.
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Mutex<Vec<Result<(TopicPartition, UnifiedLog)>>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads.min(to_load.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, tp, config)) = to_load.get(i) else {
                        break;
                    };
                    let loaded = load_log(
                        path,
                        tp.clone(),
                        config.clone(),
                        clean,
                        recovery_points.get(tp).copied(),
                        ctx.clone(),
                    )
                    .map(|log| (tp.clone(), log));
                    results.lock().push(loaded);
                });
            }
        });
        for loaded in results.into_inner() {
            let (tp, log) = loaded?;
            logs.insert(tp, Arc::new(log));
        }
        if clean {
            fs::remove_file(&marker).map_err(io_err(&marker, "remove clean shutdown marker"))?;
            fsync_dir(&dir).map_err(io_err(&dir, "fsync log directory"))?;
        }
        tracing::info!(dir = %dir.display(), logs = logs.len(), clean, "log manager opened");
        let manager = LogManager {
            dir,
            opts,
            logs: RwLock::new(logs),
            ctx,
            flusher,
            last_checkpoint_ms: AtomicI64::new(0),
            rolls_at_checkpoint: AtomicU64::new(0),
            producer_id_expiration_ms: AtomicI64::new(DEFAULT_PRODUCER_ID_EXPIRATION_MS),
            admin: Mutex::new(()),
            delete_counter: AtomicU64::new(0),
            cleaner: Mutex::new(None),
        };
        load_cleaner_offsets(&manager.dir, &manager.logs())?;
        manager.checkpoint_recovery_points()?;
        manager
            .ctx
            .log_start_checkpoint
            .persist()
            .map_err(io_err(&manager.dir, "write log start checkpoint"))?;
        Ok(Arc::new(manager))
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<UnifiedLog>> {
        self.logs.read().get(tp).cloned()
    }

    /// Creates an empty log (or returns the existing one).
    pub fn create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<UnifiedLog>> {
        let _admin = self.admin.lock();
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        self.ctx.failure.check()?;
        let path = self.dir.join(tp.to_string());
        fs::create_dir_all(&path).map_err(|e| self.ctx.failure.io_error(&path, "create log", e))?;
        fsync_dir(&self.dir).map_err(|e| {
            self.ctx
                .failure
                .io_error(&self.dir, "fsync log directory", e)
        })?;
        self.ctx.log_start_checkpoint.remove(tp);
        let log = Arc::new(load_log(
            &path,
            tp.clone(),
            config,
            true,
            None,
            self.ctx.clone(),
        )?);
        self.logs.write().insert(tp.clone(), log.clone());
        tracing::info!(tp = %tp, path = %path.display(), "created log");
        Ok(log)
    }

    /// Removes the log and deletes its files: the directory is renamed to `{tp}.{n}-delete` first.
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let _admin = self.admin.lock();
        let Some(log) = self.logs.write().remove(tp) else {
            return Ok(());
        };
        log.mark_deleted();
        self.ctx.log_start_checkpoint.remove(tp);
        let n = self.delete_counter.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{}{n}", crate::clock::wall_clock_ms());
        let target = self.dir.join(format!("{tp}.{unique}{DELETE_DIR_SUFFIX}"));
        let failure = &self.ctx.failure;
        fs::rename(log.dir(), &target)
            .map_err(|e| failure.io_error(log.dir(), "rename log for deletion", e))?;
        fsync_dir(&self.dir).map_err(|e| failure.io_error(&self.dir, "fsync log directory", e))?;
        fs::remove_dir_all(&target)
            .map_err(|e| failure.io_error(&target, "remove deleted log", e))?;
        self.ctx
            .log_start_checkpoint
            .persist()
            .map_err(|e| failure.io_error(&self.dir, "write log start checkpoint", e))?;
        tracing::info!(tp = %tp, "deleted log");
        Ok(())
    }

    pub fn logs(&self) -> Vec<Arc<UnifiedLog>> {
        self.logs.read().values().cloned().collect()
    }

    /// Waits until each (log, offset) is durable (fsynced). Group-committed across all callers.
    pub fn flush(&self, targets: Vec<(Arc<UnifiedLog>, i64)>) -> oneshot::Receiver<Result<()>> {
        if let Err(e) = self.ctx.failure.check() {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(e));
            return rx;
        }
        self.flusher.submit(targets)
    }

    /// Sets who is told how long each log's fsync takes.
    pub fn observe_flushes(&self, observer: crate::flusher::FlushObserver) {
        self.flusher.observe(observer);
    }

    /// Applies retention to every log; returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for log in self.logs() {
            match log.delete_old_segments(now_ms) {
                Ok(n) => deleted += n,
                Err(e) => {
                    tracing::warn!(tp = %log.topic_partition(), error = %e, "retention failed")
                }
            }
        }
        deleted
    }

    /// Sets `producer.id.expiration.ms` (default one day).
    pub fn set_producer_id_expiration_ms(&self, ms: i64) {
        self.producer_id_expiration_ms
            .store(ms.max(1), Ordering::Relaxed);
    }

    /// Periodic work: roll segments past segment.ms, checkpoint recovery points and log start offsets.
    pub fn maintenance(&self, now_ms: i64) {
        for log in self.logs() {
            if let Err(e) = log.maybe_roll_by_time(now_ms) {
                tracing::warn!(tp = %log.topic_partition(), error = %e, "time-based roll failed");
            }
        }
        let last = self.last_checkpoint_ms.load(Ordering::Acquire);
        let rolls = self.ctx.rolls.load(Ordering::Relaxed);
        let rolled = rolls != self.rolls_at_checkpoint.swap(rolls, Ordering::Relaxed);
        if rolled || now_ms - last >= self.opts.checkpoint_interval_ms as i64 {
            self.last_checkpoint_ms.store(now_ms, Ordering::Release);
            let max_age = self.producer_id_expiration_ms.load(Ordering::Relaxed);
            for log in self.logs() {
                let removed = log.inner.lock().producers.remove_expired(now_ms, max_age);
                if removed > 0 {
                    tracing::debug!(tp = %log.topic_partition(), removed, "expired idle producer ids");
                }
            }
            if let Err(e) = self.checkpoint_recovery_points() {
                tracing::warn!(dir = %self.dir.display(), error = %e, "recovery point checkpoint failed");
            }
            if let Err(e) = self.ctx.log_start_checkpoint.persist() {
                let _ = self.ctx.failure.io_error(
                    self.ctx.log_start_checkpoint.path(),
                    "write log start checkpoint",
                    e,
                );
            }
        }
    }

    fn checkpoint_recovery_points(&self) -> Result<()> {
        let points: BTreeMap<TopicPartition, i64> = self
            .logs
            .read()
            .iter()
            .map(|(tp, log)| (tp.clone(), log.recovery_point()))
            .collect();
        let path = self.dir.join(RECOVERY_POINT_CHECKPOINT);
        checkpoint::write_checkpoint(&path, &points).map_err(|e| {
            self.ctx
                .failure
                .io_error(&path, "write recovery point checkpoint", e)
        })
    }

    /// Flushes everything, writes snapshots and checkpoints, closes files, writes the clean-shutdown marker.
    pub fn shutdown(&self) -> Result<()> {
        if let Some(cleaner) = self.cleaner.lock().take() {
            cleaner.stop();
        }
        let _admin = self.admin.lock();
        self.flusher.stop();
        let mut first_error = None;
        for log in self.logs() {
            if let Err(e) = log.close() {
                tracing::error!(tp = %log.topic_partition(), error = %e, "closing log failed");
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.ctx.failure.check()?;
        // One flush of the whole filesystem makes every closed log durable; only then may the
        // recovery points claim it and the clean-shutdown marker skip recovery next time.
        checkpoint::sync_filesystem(&self.dir).map_err(|e| {
            self.ctx
                .failure
                .io_error(&self.dir, "syncfs at shutdown", e)
        })?;
        self.checkpoint_recovery_points()?;
        let failure = &self.ctx.failure;
        self.ctx
            .log_start_checkpoint
            .persist()
            .map_err(|e| failure.io_error(&self.dir, "write log start checkpoint", e))?;
        self.ctx.file_cache.evict_dir(&self.dir);
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        checkpoint::write_atomically(&marker, b"")
            .map_err(|e| failure.io_error(&marker, "write clean shutdown marker", e))?;
        tracing::info!(dir = %self.dir.display(), "log manager shut down cleanly");
        Ok(())
    }

    pub fn is_offline(&self) -> bool {
        self.ctx.failure.is_offline()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn total_size_bytes(&self) -> u64 {
        self.logs().iter().map(|l| l.size_bytes()).sum()
    }
}

/// Loads `cleaner-offset-checkpoint` into the logs' cleaner state (missing file: nothing cleaned).
pub(crate) fn load_cleaner_offsets(dir: &Path, logs: &[Arc<UnifiedLog>]) -> Result<()> {
    let path = dir.join(CLEANER_OFFSET_CHECKPOINT);
    let offsets = checkpoint::read_checkpoint(&path).map_err(|e| StorageError::Io {
        path: path.clone(),
        op: "read cleaner offset checkpoint",
        source: e,
    })?;
    for log in logs {
        if let Some(o) = offsets.get(log.topic_partition()) {
            // A checkpoint past the log end (log truncated by recovery) means nothing is known clean.
            let o = if *o <= log.log_end_offset() { *o } else { 0 };
            log.cleaner.lock().first_dirty = o;
        }
    }
    Ok(())
}
