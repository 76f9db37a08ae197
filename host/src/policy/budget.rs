//! What a plugin may do through the capabilities it was granted: the bounds
//! of `[limits]` that are not about the call itself (its deadline, its
//! memory) but about its side effects on the host — audit records written,
//! log lines, directory look-ups, digest verifications.
//!
//! The sandbox bounds what a plugin returns; this bounds what it makes the
//! host do. An adversary granted `audit` once wrote 56 MB of records in one
//! decision; here each call has a record count, each record a size, and each
//! plugin a rate in bytes a second, whatever instance the call runs in. A
//! refused call returns its `Err` to the plugin (a log line, which has none,
//! is dropped and counted), is counted per capability for `/metrics`, and is
//! logged at most once per [`LOG_INTERVAL`] per plugin and capability, with
//! how many were refused since the last line: a plugin that ignores its
//! refusals cannot flood the host's log either.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::manifest::Limits;

/// How often the refusals of one capability are logged, at most, per plugin.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A capability whose use is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    /// `audit.append`: records per call, bytes per record, bytes a second.
    Audit,
    /// `log.log`: bytes per line (cut, not refused), lines a second.
    Log,
    /// `directory.lookup`: look-ups per call.
    Directory,
    /// `credentials.verify` and `credentials.challenge`: calls per call.
    Credentials,
}

impl Bounded {
    /// Every bounded capability, in the order of [`Refusals`]' counters.
    pub const ALL: [Bounded; 4] = [Bounded::Audit, Bounded::Log, Bounded::Directory, Bounded::Credentials];

    /// The capability's name, as manifests and `/metrics` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Bounded::Audit => "audit",
            Bounded::Log => "log",
            Bounded::Directory => "directory",
            Bounded::Credentials => "credentials",
        }
    }
}

/// How many capability calls of a plugin were refused, by capability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Refusals {
    /// Audit records refused (too large, too many in one call, over the rate).
    pub audit: u64,
    /// Log lines dropped over `log-lines-per-second`.
    pub log: u64,
    /// Directory look-ups past `lookups-per-call`.
    pub directory: u64,
    /// Credential verifications and challenges past `verifications-per-call`.
    pub credentials: u64,
}

impl Refusals {
    /// The count for one capability.
    pub fn of(&self, capability: Bounded) -> u64 {
        match capability {
            Bounded::Audit => self.audit,
            Bounded::Log => self.log,
            Bounded::Directory => self.directory,
            Bounded::Credentials => self.credentials,
        }
    }
}

/// What one call has used so far; a fresh one for every call.
#[derive(Debug, Default)]
pub(crate) struct CallUse {
    audit_records: u32,
    lookups: u32,
    verifications: u32,
}

/// The shared part: one per plugin version, whatever instance a call runs in.
pub(crate) struct Budget {
    plugin: std::sync::Arc<str>,
    /// The manifest's bounds; the rates are also kept as buckets below.
    limits: Limits,
    audit_bytes: Mutex<Bucket>,
    log_lines: Mutex<Bucket>,
    refused: [AtomicU64; 4],
    /// Per capability: when its refusals were last logged, and how many
    /// have come since.
    reported: [Mutex<Report>; 4],
}

#[derive(Default)]
struct Report {
    last: Option<Instant>,
    unreported: u64,
}

/// A token bucket holding at most one second of its rate.
struct Bucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket { rate: f64::from(rate), tokens: f64::from(rate), refilled: Instant::now() }
    }

    /// Take `amount` if the bucket holds it.
    fn take(&mut self, amount: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.refilled = now;
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

impl Budget {
    pub(crate) fn new(plugin: std::sync::Arc<str>, limits: &Limits) -> Budget {
        Budget {
            plugin,
            limits: limits.clone(),
            audit_bytes: Mutex::new(Bucket::new(limits.audit_bytes_per_second)),
            log_lines: Mutex::new(Bucket::new(limits.log_lines_per_second)),
            refused: Default::default(),
            reported: Default::default(),
        }
    }

    /// The largest audit record, in JSON bytes.
    pub(crate) fn audit_record_bytes(&self) -> usize {
        self.limits.audit_record_bytes as usize
    }

    /// May this call append a record of `bytes` bytes (as JSON)?
    pub(crate) fn audit(&self, call: &mut CallUse, bytes: usize) -> Result<(), String> {
        let limits = &self.limits;
        let why = if bytes > self.audit_record_bytes() {
            format!("audit record of {bytes} bytes refused: audit-record-bytes is {}", limits.audit_record_bytes)
        } else if call.audit_records >= limits.audit_records_per_call {
            format!("audit record refused: audit-records-per-call is {}", limits.audit_records_per_call)
        } else if !lock(&self.audit_bytes).take(bytes as f64, Instant::now()) {
            "audit record refused: the plugin is over audit-bytes-per-second".to_string()
        } else {
            call.audit_records += 1;
            return Ok(());
        };
        Err(self.refuse(Bounded::Audit, why))
    }

    /// The part of a log line that is written (at most `log-line-bytes`,
    /// cut at a character boundary), or `None` when the plugin is over its
    /// rate: the line is dropped and counted.
    pub(crate) fn log_line<'a>(&self, line: &'a str) -> Option<&'a str> {
        if !lock(&self.log_lines).take(1.0, Instant::now()) {
            self.refuse(Bounded::Log, "log lines dropped: the plugin is over log-lines-per-second".into());
            return None;
        }
        let mut end = line.len().min(self.limits.log_line_bytes as usize);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        Some(&line[..end])
    }

    /// May this call make one more directory look-up?
    pub(crate) fn lookup(&self, call: &mut CallUse) -> Result<(), String> {
        if call.lookups >= self.limits.lookups_per_call {
            let why = format!("directory look-up refused: lookups-per-call is {}", self.limits.lookups_per_call);
            return Err(self.refuse(Bounded::Directory, why));
        }
        call.lookups += 1;
        Ok(())
    }

    /// May this call make one more credentials call?
    pub(crate) fn verification(&self, call: &mut CallUse) -> Result<(), String> {
        let per_call = self.limits.verifications_per_call;
        if call.verifications >= per_call {
            let why = format!("credentials call refused: verifications-per-call is {per_call}");
            return Err(self.refuse(Bounded::Credentials, why));
        }
        call.verifications += 1;
        Ok(())
    }

    /// The refusals so far.
    pub(crate) fn refusals(&self) -> Refusals {
        let n = |c: Bounded| self.refused[c as usize].load(Ordering::Relaxed);
        Refusals {
            audit: n(Bounded::Audit),
            log: n(Bounded::Log),
            directory: n(Bounded::Directory),
            credentials: n(Bounded::Credentials),
        }
    }

    /// Count a refusal, log it if this capability's were not logged within
    /// the interval, and hand back `why` for the plugin.
    fn refuse(&self, capability: Bounded, why: String) -> String {
        self.refused[capability as usize].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut report = lock(&self.reported[capability as usize]);
        report.unreported += 1;
        if report.last.is_none_or(|last| now.saturating_duration_since(last) >= LOG_INTERVAL) {
            let count = std::mem::take(&mut report.unreported);
            report.last = Some(now);
            tracing::warn!(
                plugin = %self.plugin,
                capability = capability.as_str(),
                refused = count,
                "plugin over its capability limits: {why} ({count} refused since the last such line; \
                 logged at most every {} s)",
                LOG_INTERVAL.as_secs()
            );
        }
        why
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(text: &str) -> Budget {
        let limits: Limits = toml::from_str(text).unwrap();
        Budget::new("p".into(), &limits)
    }

    #[test]
    fn audit_records_are_bounded_in_size_count_and_rate() {
        let b = budget("audit-record-bytes = 100\naudit-records-per-call = 3\naudit-bytes-per-second = 250");
        let mut call = CallUse::default();
        assert!(b.audit(&mut call, 101).unwrap_err().contains("audit-record-bytes is 100"));
        assert_eq!(b.audit(&mut call, 100), Ok(()));
        assert_eq!(b.audit(&mut call, 100), Ok(()));
        // 200 of the 250 bytes a second are spent.
        assert!(b.audit(&mut call, 100).unwrap_err().contains("audit-bytes-per-second"));
        assert_eq!(b.audit(&mut call, 50), Ok(()));
        assert!(b.audit(&mut call, 1).unwrap_err().contains("audit-records-per-call is 3"));
        // A new call may write again, within the rate.
        assert!(b.audit(&mut CallUse::default(), 100).is_err());
        assert_eq!(b.refusals(), Refusals { audit: 4, ..Refusals::default() });
    }

    #[test]
    fn log_lines_are_cut_and_rate_limited() {
        let b = budget("log-line-bytes = 4\nlog-lines-per-second = 3");
        assert_eq!(b.log_line("héllo"), Some("hél"));
        assert_eq!(b.log_line("hé"), Some("hé"));
        assert_eq!(b.log_line("x"), Some("x"));
        assert_eq!(b.log_line("y"), None);
        assert_eq!(b.refusals().log, 1);
    }

    #[test]
    fn lookups_and_verifications_are_counted_per_call() {
        let b = budget("lookups-per-call = 1\nverifications-per-call = 2");
        let mut call = CallUse::default();
        assert_eq!(b.lookup(&mut call), Ok(()));
        assert!(b.lookup(&mut call).unwrap_err().contains("lookups-per-call is 1"));
        assert_eq!((b.verification(&mut call), b.verification(&mut call)), (Ok(()), Ok(())));
        assert!(b.verification(&mut call).is_err());
        let mut next = CallUse::default();
        assert_eq!((b.lookup(&mut next), b.verification(&mut next)), (Ok(()), Ok(())));
        assert_eq!(b.refusals(), Refusals { directory: 1, credentials: 1, ..Refusals::default() });
    }
}
