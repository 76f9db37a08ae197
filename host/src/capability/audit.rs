//! An append-only JSON Lines audit log.
//!
//! Each record is one line of JSON, written with a single `write_all` under
//! the sink's lock, so concurrent writers never interleave and a crash can at
//! worst cut the last line short. How much a crash may lose is chosen
//! explicitly with [`Durability`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::CapabilityError;

/// When an appended record reaches stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// [`AuditSink::append`] returns `Ok` only once the record is written
    /// and `fsync`ed: neither a killed process nor a power cut loses it.
    /// Costs one `fsync` per record.
    Strict,
    /// Records are buffered in memory; a background thread writes and
    /// `fsync`s them every `interval` (at least 10 ms), as do
    /// [`AuditSink::flush`] and dropping the sink. A crash or power cut loses
    /// at most the records appended during the last `interval`.
    Batched {
        /// How often records are written and synced; shorter than 10 ms
        /// counts as 10 ms.
        interval: Duration,
    },
}

/// Size-based rotation: before a record would take the file past
/// `max_bytes`, the file is renamed to `PATH.N` (N one more than any
/// existing suffix) and a fresh file is started. A single record larger than
/// `max_bytes` gets a file of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The size a file may reach, in bytes.
    pub max_bytes: u64,
}

/// Buffered records beyond this size are written out (without `fsync`)
/// early, so a slow interval cannot make the buffer grow without bound.
const MAX_PENDING: usize = 1 << 20;
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Field names whose presence suggests credential material. Matched
/// case-insensitively, with `_` read as `-`, anywhere in the name.
const SECRET_WORDS: [&str; 4] = ["password", "passwd", "secret", "authorization"];

/// The field the sink writes itself.
const TIME_FIELD: &str = "time";

/// An append-only JSON Lines audit log, shareable between threads (wrap it
/// in an `Arc`).
pub struct AuditSink {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

struct Shared {
    path: PathBuf,
    durability: Durability,
    rotation: Option<Rotation>,
    log: Mutex<LogFile>,
    /// Held across a flush's `fsync` (without `log`): a flush that returns
    /// has synced everything written before it began, even while another
    /// flush was already syncing.
    syncing: Mutex<()>,
    stopping: Mutex<bool>,
    wake: Condvar,
}

struct LogFile {
    file: File,
    /// Bytes known to be whole records in the file: where a failed write is
    /// cut back to, so a partial record never precedes the next one.
    len: u64,
    /// Batched records not yet written.
    pending: Vec<u8>,
    /// Whether bytes were written since the last `fsync`.
    unsynced: bool,
    next_suffix: u64,
}

impl AuditSink {
    /// Whether each append waits until its record is on disk.
    pub fn is_strict(&self) -> bool {
        matches!(self.shared.durability, Durability::Strict)
    }

    /// Opens (creating if needed) the log at `path` for appending.
    pub fn open(
        path: impl Into<PathBuf>,
        durability: Durability,
        rotation: Option<Rotation>,
    ) -> Result<Self, CapabilityError> {
        let path = path.into();
        let (file, len) = open_log(&path).map_err(io_error("open", &path))?;
        let next_suffix = highest_suffix(&path).map_err(io_error("list rotated files of", &path))? + 1;
        sync_parent(&path).map_err(io_error("sync the directory of", &path))?;

        let shared = Arc::new(Shared {
            path,
            durability,
            rotation,
            log: Mutex::new(LogFile { file, len, pending: Vec::new(), unsynced: false, next_suffix }),
            syncing: Mutex::new(()),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let flusher = match durability {
            Durability::Strict => None,
            Durability::Batched { interval } => {
                let flusher = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name("audit-flush".into())
                    .spawn(move || flusher.flush_periodically(interval.max(MIN_INTERVAL)));
                Some(spawned.map_err(io_error("start the flush thread for", &shared.path))?)
            }
        };
        Ok(AuditSink { shared, flusher })
    }

    /// Appends one record, adding a `"time"` field (RFC 3339, UTC, ms).
    ///
    /// Refuses records with a field named like a secret (`password`, `ha1…`,
    /// `authorization`, `proxy-authorization`, `…secret…`, at any depth) and
    /// records that set `"time"` themselves. On `Err` the record is not in
    /// the log.
    pub fn append(&self, record: Map<String, Value>) -> Result<(), CapabilityError> {
        refuse_secrets(&record)?;
        if record.contains_key(TIME_FIELD) {
            return Err(CapabilityError::ReservedField { field: TIME_FIELD.into() });
        }
        let body = Value::Object(record).to_string();

        let mut log = self.shared.lock();
        let mut line = format!("{{\"{TIME_FIELD}\":\"{}\"", rfc3339_utc(SystemTime::now()));
        if body != "{}" {
            line.push(',');
        }
        line.push_str(&body[1..]);
        line.push('\n');
        self.shared.append(&mut log, line.as_bytes())
    }

    /// Writes and `fsync`s buffered records now. Does nothing under
    /// [`Durability::Strict`], where nothing is buffered.
    pub fn flush(&self) -> Result<(), CapabilityError> {
        self.shared.flush()
    }

    /// Reopens the log at its path, for external rotation: the operator
    /// renames the file, then asks for a reopen; records appended in between
    /// land in the renamed file.
    pub fn reopen(&self) -> Result<(), CapabilityError> {
        let mut log = self.shared.lock();
        self.shared.write_pending(&mut log, true)?;
        self.shared.start_new_file(&mut log, "reopen")
    }
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("path", &self.shared.path)
            .field("durability", &self.shared.durability)
            .field("rotation", &self.shared.rotation)
            .finish()
    }
}

impl Drop for AuditSink {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            *self.shared.stopping.lock().unwrap_or_else(PoisonError::into_inner) = true;
            self.shared.wake.notify_all();
            if flusher.join().is_err() {
                tracing::error!(path = %self.shared.path.display(), "audit flush thread panicked");
            }
        }
        if let Err(error) = self.shared.flush() {
            tracing::error!(%error, "audit records lost when closing the log");
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LogFile> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, log: &mut LogFile, line: &[u8]) -> Result<(), CapabilityError> {
        if let Some(Rotation { max_bytes }) = self.rotation {
            let size = log.len + log.pending.len() as u64;
            if size > 0 && size + line.len() as u64 > max_bytes {
                self.rotate(log)?;
            }
        }
        match self.durability {
            Durability::Strict => log.commit(line, true).map_err(io_error("write to", &self.path)),
            Durability::Batched { .. } => {
                if log.pending.len() + line.len() > MAX_PENDING {
                    self.write_pending(log, false)?;
                }
                log.pending.extend_from_slice(line);
                Ok(())
            }
        }
    }

    /// Writes the buffered records under the lock (a copy into the page
    /// cache) and `fsync`s outside it. An `fsync` can take tens of
    /// milliseconds, and batched appends are made on the proxy's I/O
    /// threads (see `Capabilities::may_block`): they must never wait for
    /// one. Records appended meanwhile are synced by the next flush.
    fn flush(&self) -> Result<(), CapabilityError> {
        let _syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let file = {
            let mut log = self.lock();
            self.write_pending(&mut log, false)?;
            if !log.unsynced {
                return Ok(());
            }
            log.unsynced = false;
            log.file.try_clone().map_err(io_error("flush", &self.path))?
        };
        file.sync_data().map_err(|error| {
            self.lock().unsynced = true;
            io_error("write to", &self.path)(error)
        })
    }

    /// Writes the buffered records and, if `sync`, `fsync`s everything
    /// written so far. On failure the records stay buffered for the next try.
    fn write_pending(&self, log: &mut LogFile, sync: bool) -> Result<(), CapabilityError> {
        let pending = std::mem::take(&mut log.pending);
        log.commit(&pending, sync).map_err(|error| {
            log.pending = pending;
            io_error("write to", &self.path)(error)
        })
    }

    /// Renames the full log to the next free `PATH.N` and starts a new one.
    fn rotate(&self, log: &mut LogFile) -> Result<(), CapabilityError> {
        self.write_pending(log, true)?;
        let target = loop {
            let candidate = suffixed(&self.path, log.next_suffix);
            log.next_suffix += 1;
            if !candidate.try_exists().map_err(io_error("rotate", &self.path))? {
                break candidate;
            }
        };
        match fs::rename(&self.path, &target) {
            // Already moved away (a failed reopen last time, or an operator
            // who has not asked for a reopen yet): start the new file anyway.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            result => result.map_err(io_error("rotate", &self.path))?,
        }
        tracing::info!(from = %self.path.display(), to = %target.display(), "audit log rotated");
        self.start_new_file(log, "rotate")
    }

    fn start_new_file(&self, log: &mut LogFile, action: &'static str) -> Result<(), CapabilityError> {
        let (file, len) = open_log(&self.path).map_err(io_error(action, &self.path))?;
        sync_parent(&self.path).map_err(io_error(action, &self.path))?;
        log.file = file;
        log.len = len;
        log.unsynced = false;
        Ok(())
    }

    fn flush_periodically(&self, interval: Duration) {
        loop {
            let stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
            let (stopping, _) = self
                .wake
                .wait_timeout_while(stopping, interval, |stopping| !*stopping)
                .unwrap_or_else(PoisonError::into_inner);
            if *stopping {
                return;
            }
            drop(stopping);
            if let Err(error) = self.flush() {
                tracing::error!(%error, "audit log flush failed; records stay buffered");
            }
        }
    }
}

impl LogFile {
    /// Writes `bytes` in one `write_all` and, if `sync`, `fsync`s. On failure
    /// cuts the file back to its last whole record.
    fn commit(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        let mut result = self.file.write_all(bytes);
        if result.is_ok() {
            self.unsynced |= !bytes.is_empty();
            if sync && self.unsynced {
                result = self.file.sync_data();
            }
        }
        match result {
            Ok(()) => {
                self.len += bytes.len() as u64;
                if sync {
                    self.unsynced = false;
                }
                Ok(())
            }
            Err(error) => {
                if let Err(truncate) = self.file.set_len(self.len) {
                    tracing::error!(error = %truncate, "cannot cut a partial audit record off the log");
                }
                Err(error)
            }
        }
    }
}

/// Names the file in an I/O error; the path is copied only on failure.
fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CapabilityError {
    move |source| CapabilityError::Io { action, path: path.to_path_buf(), source }
}

fn open_log(path: &Path) -> io::Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    let file = options.open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

/// Makes a created or renamed directory entry durable, not just the data.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn suffixed(path: &Path, n: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The largest N for which `PATH.N` exists, or 0.
fn highest_suffix(path: &Path) -> io::Result<u64> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(0);
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let mut highest = 0;
    for entry in fs::read_dir(parent)? {
        let entry = entry?.file_name();
        let suffix = entry
            .to_str()
            .and_then(|entry| entry.strip_prefix(name)?.strip_prefix('.'))
            .filter(|suffix| suffix.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|suffix| suffix.parse().ok());
        highest = highest.max(suffix.unwrap_or(0));
    }
    Ok(highest)
}

pub(super) fn refuse_secrets(record: &Map<String, Value>) -> Result<(), CapabilityError> {
    for (key, value) in record {
        if is_secret_name(key) {
            return Err(CapabilityError::SecretField { field: key.clone() });
        }
        refuse_secrets_in(value)?;
    }
    Ok(())
}

fn refuse_secrets_in(value: &Value) -> Result<(), CapabilityError> {
    match value {
        Value::Object(record) => refuse_secrets(record),
        Value::Array(items) => items.iter().try_for_each(refuse_secrets_in),
        _ => Ok(()),
    }
}

fn is_secret_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('_', "-");
    key.starts_with("ha1") || SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// Formats `time` as RFC 3339 UTC with milliseconds, e.g.
/// `2023-11-14T22:13:20.123Z`.
fn rfc3339_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        since_epoch.subsec_millis(),
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard
/// Hinnant's `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn record(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn lines(path: &Path) -> Vec<Map<String, Value>> {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'));
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    #[test]
    fn strict_append_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = AuditSink::open(&path, Durability::Strict, None).unwrap();
        sink.append(record(json!({"event": "auth", "user": "alice", "note": "a\nb"}))).unwrap();
        sink.append(Map::new()).unwrap();
        // As good as SIGKILL for our purposes: no destructor runs.
        std::mem::forget(sink);

        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"time\":\""), "{text}");
        let records = lines(&path);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["user"], "alice");
        assert_eq!(records[0]["note"], "a\nb");
        let time = records[1]["time"].as_str().unwrap();
        assert_eq!(time.len(), "2023-11-14T22:13:20.123Z".len());
        assert!(time.ends_with('Z'));
    }

    #[test]
    fn concurrent_appends_produce_whole_lines() {
        for durability in [Durability::Strict, Durability::Batched { interval: Duration::from_millis(5) }] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("audit.jsonl");
            let sink = Arc::new(AuditSink::open(&path, durability, None).unwrap());
            let threads: Vec<_> = (0..4)
                .map(|thread| {
                    let sink = Arc::clone(&sink);
                    thread::spawn(move || {
                        for seq in 0..50 {
                            let filler = "x".repeat(1000 + thread * 300);
                            sink.append(record(json!({"thread": thread, "seq": seq, "filler": filler}))).unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            drop(sink);
            let seen: BTreeSet<_> =
                lines(&path).iter().map(|r| (r["thread"].as_u64().unwrap(), r["seq"].as_u64().unwrap())).collect();
            assert_eq!(seen.len(), 200, "{durability:?}");
        }
    }

    #[test]
    fn rotation_keeps_every_record_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        fs::write(suffixed(&path, 1), "operator's old file\n").unwrap();
        let rotation = Rotation { max_bytes: 300 };
        let sink = AuditSink::open(&path, Durability::Strict, Some(rotation)).unwrap();
        for seq in 0..40 {
            sink.append(record(json!({"seq": seq, "pad": "0123456789"}))).unwrap();
        }
        drop(sink);

        assert_eq!(fs::read_to_string(suffixed(&path, 1)).unwrap(), "operator's old file\n");
        let mut files: Vec<PathBuf> = (2..).map(|n| suffixed(&path, n)).take_while(|p| p.exists()).collect();
        assert!(files.len() > 3);
        files.push(path);
        let mut seqs = Vec::new();
        for file in &files {
            assert!(fs::metadata(file).unwrap().len() <= rotation.max_bytes);
            seqs.extend(lines(file).iter().map(|r| r["seq"].as_u64().unwrap()));
        }
        assert_eq!(seqs, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn batched_records_are_flushed_on_drop_and_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let hour = Durability::Batched { interval: Duration::from_secs(3600) };
        let sink = AuditSink::open(&path, hour, None).unwrap();
        sink.append(record(json!({"n": 1}))).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        sink.flush().unwrap();
        assert_eq!(lines(&path).len(), 1);
        sink.append(record(json!({"n": 2}))).unwrap();
        sink.append(record(json!({"n": 3}))).unwrap();
        drop(sink);
        assert_eq!(lines(&path).len(), 3);
    }

    #[test]
    fn batched_records_are_flushed_by_the_background_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let fast = Durability::Batched { interval: Duration::from_millis(20) };
        let sink = AuditSink::open(&path, fast, None).unwrap();
        sink.append(record(json!({"n": 1}))).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while fs::metadata(&path).unwrap().len() == 0 {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(lines(&path).len(), 1);
    }

    #[test]
    fn secret_and_reserved_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = AuditSink::open(&path, Durability::Strict, None).unwrap();
        for bad in [
            json!({"password": "x"}),
            json!({"Proxy-Authorization": "Digest …"}),
            json!({"AUTHORIZATION": "x"}),
            json!({"sip": {"headers": [{"ha1_md5": "x"}]}}),
            json!({"client_secret": "x"}),
        ] {
            let error = sink.append(record(bad)).unwrap_err();
            assert!(matches!(error, CapabilityError::SecretField { .. }), "{error}");
        }
        let error = sink.append(record(json!({"time": "now"}))).unwrap_err();
        assert!(matches!(error, CapabilityError::ReservedField { .. }));
        sink.append(record(json!({"user": "alice", "authorized": true}))).unwrap();
        assert_eq!(lines(&path).len(), 1);
    }

    #[test]
    fn reopen_follows_an_external_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let moved = dir.path().join("audit.jsonl.old");
        let sink = AuditSink::open(&path, Durability::Strict, None).unwrap();
        sink.append(record(json!({"n": 1}))).unwrap();
        fs::rename(&path, &moved).unwrap();
        sink.append(record(json!({"n": 2}))).unwrap();
        sink.reopen().unwrap();
        sink.append(record(json!({"n": 3}))).unwrap();
        assert_eq!(lines(&moved).len(), 2);
        assert_eq!(lines(&path)[0]["n"], 3);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        let at = |ms: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }
}
