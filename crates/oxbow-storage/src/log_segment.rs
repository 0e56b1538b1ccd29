//! One segment of a partition log: a `.log` file of record batches starting at `base_offset`,
//! with its in-memory offset and time indexes.
//!
//! Only the active segment keeps its file open; older segments are opened on demand for reads
//! (see [`crate::file_cache`]). Appends use positional writes at the committed size, so a failed
//! write can be undone by truncating the file back to that size.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, BatchOffsets, OFFSET_HEADER_LEN, RECORD_BATCH_OVERHEAD};
use crate::failure::io_fail_point;
use crate::offset_index::OffsetIndex;
use crate::time_index::TimeIndex;
use crate::transaction_index::{TransactionIndex, TXN_INDEX_SUFFIX};

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
pub const DELETED_SUFFIX: &str = ".deleted";

/// `{dir}/{offset:020}.{suffix}`, Kafka's file naming.
pub fn segment_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{offset:020}.{suffix}"))
}

#[derive(Debug)]
pub struct LogSegment {
    pub base_offset: i64,
    log_path: PathBuf,
    file: Option<Arc<File>>,
    size: u64,
    next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    /// Transactions aborted by markers in this segment.
    txn_index: TransactionIndex,
    /// Wall-clock time the segment was created (or loaded), for `segment.ms`.
    pub created_ms: i64,
}

impl LogSegment {
    fn empty(dir: &Path, base_offset: i64, created_ms: i64) -> Self {
        Self {
            base_offset,
            log_path: segment_file(dir, base_offset, LOG_SUFFIX),
            file: None,
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::new(segment_file(dir, base_offset, INDEX_SUFFIX)),
            time_index: TimeIndex::new(segment_file(dir, base_offset, TIME_INDEX_SUFFIX)),
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            bytes_since_last_index_entry: 0,
            txn_index: TransactionIndex::new(segment_file(dir, base_offset, TXN_INDEX_SUFFIX)),
            created_ms,
        }
    }

    /// Creates a new, empty, open segment file (replacing any stale file of that name).
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        io_fail_point!("oxbow-storage::roll");
        let mut seg = Self::empty(dir, base_offset, now_ms);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&seg.log_path)?;
        seg.file = Some(Arc::new(file));
        for p in [
            seg.offset_index.path(),
            seg.time_index.path(),
            seg.txn_index.path(),
        ] {
            remove_if_exists(p)?;
        }
        Ok(seg)
    }

    /// Opens an existing segment without validating its content (indexes are loaded separately).
    pub fn open_existing(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        let mut seg = Self::empty(dir, base_offset, now_ms);
        seg.size = fs::metadata(&seg.log_path)?.len();
        seg.txn_index = TransactionIndex::load(seg.txn_index.path().to_path_buf())?;
        Ok(seg)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    /// Transactions aborted by markers in this segment.
    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }
    pub fn txn_index_mut(&mut self) -> &mut TransactionIndex {
        &mut self.txn_index
    }
    /// The open file of the active segment.
    pub fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// Opens the file for appending (the segment becomes the active one).
    pub fn open_for_append(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.log_path)?;
            self.file = Some(Arc::new(f));
        }
        Ok(())
    }

    /// Releases the file handle (the segment is no longer active).
    pub fn close_file(&mut self) {
        self.file = None;
    }

    fn rel(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32
    }

    /// Position in the file to start scanning for `offset` (from the sparse index).
    pub fn lookup_position(&self, offset: i64) -> u64 {
        self.offset_index.lookup(self.rel(offset)).position as u64
    }

    /// Relative start offset for a search of the first record with timestamp >= `ts`.
    pub fn lookup_timestamp(&self, ts: i64) -> i64 {
        self.base_offset + self.time_index.lookup(ts) as i64
    }

    /// Writes `parts` back to back at the end of the segment with `pwritev`, so a produce
    /// request's batches go to the page cache straight from the request buffer (only their
    /// rewritten headers come from elsewhere).
    pub fn write_parts(&self, parts: &[&[u8]]) -> io::Result<()> {
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("segment is not open for append"))?;
        io_fail_point!("oxbow-storage::segment-before-write");
        let mut slices: Vec<IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut bufs = &mut slices[..];
        let mut pos = self.size;
        while !bufs.is_empty() {
            let count = bufs.len().min(1024) as libc::c_int;
            let offset = libc::off_t::try_from(pos)
                .map_err(|_| io::Error::other("segment offset too large"))?;
            // SAFETY: IoSlice is ABI-compatible with iovec on Unix; the slices outlive the call.
            let n = unsafe { libc::pwritev(file.as_raw_fd(), bufs.as_ptr().cast(), count, offset) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            pos += n as u64;
            IoSlice::advance_slices(&mut bufs, n as usize);
        }
        io_fail_point!("oxbow-storage::segment-after-write");
        Ok(())
    }

    /// Truncates the file back to the committed size after a failed write.
    pub fn truncate_file(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.set_len(self.size),
            None => Ok(()),
        }
    }

    /// Records a batch written at `position` in memory: size, next offset, indexes, max timestamp.
    pub fn on_batch_appended(
        &mut self,
        position: u64,
        header: &BatchHeader,
        index_interval_bytes: u32,
    ) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset;
        }
        if position > 0 && self.bytes_since_last_index_entry >= index_interval_bytes as u64 {
            if let Ok(pos) = u32::try_from(position) {
                self.offset_index.append(self.rel(header.base_offset), pos);
                self.time_index
                    .maybe_append(self.max_timestamp, self.rel(self.offset_of_max_timestamp));
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.size() as u64;
        self.size = self.size.max(position + header.size() as u64);
        self.next_offset = self.next_offset.max(header.last_offset() + 1);
    }

    /// fdatasync of the log file (active segment only).
    pub fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => sync_file(f),
            None => Ok(()),
        }
    }

    /// Writes both index files durably, with a final time index entry for the max timestamp.
    pub fn persist_indexes(&mut self) -> io::Result<()> {
        self.persist_indexes_with(true)
    }

    /// As [`Self::persist_indexes`]; `sync` = false leaves durability to a later `syncfs`.
    pub fn persist_indexes_with(&mut self, sync: bool) -> io::Result<()> {
        if self.max_timestamp >= 0 || self.size > 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.rel(self.offset_of_max_timestamp));
        }
        self.offset_index.persist_with(sync)?;
        self.time_index.persist_with(sync)?;
        if !self.txn_index.is_empty() {
            self.txn_index.persist_with(sync)?;
        }
        Ok(())
    }

    /// Loads the index files written at roll or clean shutdown and finds the end of the log by
    /// scanning from the last index entry. Returns false if the indexes fail the sanity check.
    pub fn load_trusted(&mut self) -> io::Result<bool> {
        self.offset_index = OffsetIndex::load(self.offset_index.path().to_path_buf())?;
        self.time_index = TimeIndex::load(self.time_index.path().to_path_buf())?;
        if let Err(problem) = self.offset_index.sanity_check(self.size.max(1)) {
            tracing::warn!(path = %self.offset_index.path().display(), problem, "offset index not sane, rebuilding");
            return Ok(false);
        }
        if let Some(last) = self.time_index.last_entry() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + last.relative_offset as i64;
        }
        let start = self
            .offset_index
            .entries()
            .last()
            .map(|e| e.position as u64)
            .unwrap_or(0);
        let file = File::open(&self.log_path)?;
        let mut reader = ChunkedReader::new(&file, self.size);
        let mut pos = start;
        self.bytes_since_last_index_entry = 0;
        while pos < self.size {
            let header = match reader
                .read(pos, RECORD_BATCH_OVERHEAD)?
                .and_then(BatchHeader::parse)
            {
                Some(h)
                    if batch::check_header(&h).is_none() && pos + h.size() as u64 <= self.size =>
                {
                    h
                }
                _ => {
                    tracing::warn!(path = %self.log_path.display(), position = pos, "bad batch in trusted segment, rebuilding");
                    return Ok(false);
                }
            };
            if header.max_timestamp > self.max_timestamp {
                self.max_timestamp = header.max_timestamp;
                self.offset_of_max_timestamp = header.base_offset;
            }
            self.bytes_since_last_index_entry += header.size() as u64;
            self.next_offset = header.last_offset() + 1;
            pos += header.size() as u64;
        }
        if let Err(problem) = self
            .time_index
            .sanity_check((self.next_offset - self.base_offset) as u64)
        {
            tracing::warn!(path = %self.time_index.path().display(), problem, "time index not sane, rebuilding");
            return Ok(false);
        }
        Ok(true)
    }

    /// Scans every batch (framing and CRC), rebuilds the indexes, and truncates the file at the
    /// first torn or corrupt batch. Returns the number of bytes dropped.
    pub fn recover(&mut self, index_interval_bytes: u32) -> io::Result<u64> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)?;
        let len = file.metadata()?.len();
        self.offset_index.clear();
        self.time_index.clear();
        self.size = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.bytes_since_last_index_entry = 0;
        let mut reader = ChunkedReader::new(&file, len);
        let mut pos = 0u64;
        let mut problem = None;
        while pos < len {
            let Some(header) = reader
                .read(pos, RECORD_BATCH_OVERHEAD)?
                .and_then(BatchHeader::parse)
            else {
                problem = Some("partial batch header".to_string());
                break;
            };
            if let Some(p) = batch::check_header(&header) {
                problem = Some(p);
                break;
            }
            if header.base_offset < self.next_offset
                || header.last_offset() - self.base_offset > u32::MAX as i64
            {
                problem = Some(format!(
                    "batch base offset {} out of place",
                    header.base_offset
                ));
                break;
            }
            let Some(bytes) = reader.read(pos, header.size())? else {
                problem = Some("batch cut short".to_string());
                break;
            };
            if !batch::crc_matches(bytes) {
                problem = Some("CRC mismatch".to_string());
                break;
            }
            self.on_batch_appended(pos, &header, index_interval_bytes);
            pos += header.size() as u64;
        }
        if pos < len {
            tracing::warn!(
                path = %self.log_path.display(), position = pos, bytes_dropped = len - pos,
                problem = problem.as_deref().unwrap_or(""), "truncating torn or corrupt log tail"
            );
            file.set_len(pos)?;
            file.sync_all()?;
        }
        self.size = pos;
        self.txn_index.truncate_to(self.next_offset)?;
        Ok(len - pos)
    }

    /// Renames the segment's files to `*.deleted` (so a crash leaves a valid log), then removes them.
    pub fn delete_files(&mut self) -> io::Result<()> {
        self.file = None;
        let paths = [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ];
        let mut renamed = Vec::new();
        for p in paths {
            let mut d = p.as_os_str().to_owned();
            d.push(DELETED_SUFFIX);
            match fs::rename(&p, &d) {
                Ok(()) => renamed.push(PathBuf::from(d)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for d in renamed {
            remove_if_exists(&d)?;
        }
        Ok(())
    }
}

/// fdatasync of a segment file (the `flush` failpoint).
pub fn sync_file(file: &File) -> io::Result<()> {
    io_fail_point!("oxbow-storage::flush");
    file.sync_data()
}

pub fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Buffered positional reads over a file region `[0, end)`: serves small header reads from 64 KiB chunks.
pub struct ChunkedReader<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

const CHUNK: usize = 64 * 1024;

impl<'a> ChunkedReader<'a> {
    pub fn new(file: &'a File, end: u64) -> Self {
        Self {
            file,
            end,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// The `len` bytes at `pos`, or `None` if they extend past the end.
    pub fn read(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        if pos + len as u64 > self.end {
            return Ok(None);
        }
        let cached =
            pos >= self.buf_start && pos + len as u64 <= self.buf_start + self.buf.len() as u64;
        if !cached {
            let n = (len.max(CHUNK) as u64).min(self.end - pos) as usize;
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.buf_start = pos;
        }
        let from = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[from..from + len]))
    }
}

/// Finds the first batch in `[start, end)` whose last offset is >= `target`: its position and offsets.
pub fn find_batch(
    file: &File,
    start: u64,
    end: u64,
    target: i64,
) -> io::Result<Option<(u64, BatchOffsets)>> {
    let mut reader = ChunkedReader::new(file, end);
    let mut pos = start;
    while pos < end {
        let Some(h) = reader
            .read(pos, OFFSET_HEADER_LEN)?
            .and_then(BatchOffsets::parse)
        else {
            return Ok(None);
        };
        if h.last_offset() >= target {
            return Ok(Some((pos, h)));
        }
        pos += h.size() as u64;
    }
    Ok(None)
}

/// Turns the kernel's readahead off for a handle (`POSIX_FADV_RANDOM`): each read then reads
/// just what it asks for. Readers catching up while producers wait for fsyncs read through such
/// handles (see the broker's `catch_up` module): with readahead on, each read of a range that has
/// left the cache would make the kernel queue megabytes of reads ahead, which the fsyncs then
/// wait behind.
pub fn without_readahead(file: File) -> File {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise on an open descriptor we own; it only sets a hint on the open file.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::from_raw_os_error(rc), "posix_fadvise(RANDOM) failed");
    }
    file
}

/// Whether the pages at the start, middle and end of a file range are in the page cache, found
/// with non-blocking one-byte reads (`preadv2` with `RWF_NOWAIT`): a cheap guess at whether
/// sending the range will wait for the disk.
pub fn is_cached(file: &File, pos: u64, len: usize) -> bool {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return true;
    }
    let last = pos + len as u64 - 1;
    [pos, pos + len as u64 / 2, last].iter().all(|&at| {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let Ok(offset) = libc::off_t::try_from(at) else {
            return false;
        };
        // SAFETY: one valid iovec over a local buffer; the descriptor is open.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &mut iov, 1, offset, libc::RWF_NOWAIT) };
        n == 1
    })
}

/// Reads whole batches from `pos` (the start of a batch) up to `max_bytes` (at least one batch if
/// `min_one`), never a batch starting at or past `upper_bound`, never past `end`.
pub fn read_batches(
    file: &File,
    pos: u64,
    end: u64,
    max_bytes: usize,
    upper_bound: i64,
    min_one: bool,
) -> io::Result<Vec<u8>> {
    let mut head = [0u8; OFFSET_HEADER_LEN];
    if pos + OFFSET_HEADER_LEN as u64 > end {
        return Ok(Vec::new());
    }
    file.read_exact_at(&mut head, pos)?;
    let Some(first) = BatchOffsets::parse(&head) else {
        return Ok(Vec::new());
    };
    if first.base_offset >= upper_bound {
        return Ok(Vec::new());
    }
    let available = (end - pos) as usize;
    let want = if first.size() > max_bytes {
        if !min_one {
            return Ok(Vec::new());
        }
        first.size().min(available)
    } else {
        max_bytes.min(available)
    };
    let mut buf = vec![0u8; want];
    file.read_exact_at(&mut buf, pos)?;
    let mut keep = 0usize;
    while keep + OFFSET_HEADER_LEN <= buf.len() {
        let Some(h) = BatchOffsets::parse(&buf[keep..]) else {
            break;
        };
        if h.base_offset >= upper_bound
            || keep + h.size() > buf.len()
            || h.batch_length < batch::MIN_BATCH_LENGTH
        {
            break;
        }
        keep += h.size();
    }
    buf.truncate(keep);
    Ok(buf)
}
