//! A plugin's manifest: `NAME.toml` beside `NAME.wasm`.
//!
//! The manifest is the operator's half of a plugin: where it sits in the
//! chain, which requests it sees, which capabilities it is granted, its
//! limits, what happens when it fails, and its configuration. Every value is
//! checked while parsing so that a mistake is reported with the file, line
//! and field it is on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sip::Method;

/// A parsed and checked manifest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// The operator's name for this release of the plugin (e.g. "1.4.2"),
    /// shown by the admin API beside the component's SHA-256, which is what
    /// identifies it exactly.
    #[serde(default)]
    pub version: Option<ReasonPhrase>,
    /// Position in the chain: lower runs first; ties are broken by name.
    #[serde(default = "default_order")]
    pub order: i32,
    /// The methods whose requests the plugin decides; empty means all.
    #[serde(default)]
    pub methods: Vec<MethodName>,
    /// Whether the plugin observes the responses to requests it let through.
    #[serde(default)]
    pub responses: bool,
    /// The host capabilities the plugin may import.
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<Capability>,
    /// The SHA-256 the component must have, in hex. A component that does not
    /// match is refused, so that a tampered file never replaces a plugin.
    #[serde(default)]
    pub sha256: Option<Sha256Pin>,
    /// `[limits]`: the deadline and memory cap of each call.
    #[serde(default)]
    pub limits: Limits,
    /// `[failure]`: what the chain does when the plugin fails; by default
    /// it fails closed with a 500.
    #[serde(default)]
    pub failure: FailurePolicy,
    /// Handed to the plugin's `init`, as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_order() -> i32 {
    100
}

fn default_capabilities() -> Vec<Capability> {
    vec![Capability::Log]
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: None,
            order: default_order(),
            methods: Vec::new(),
            responses: false,
            capabilities: default_capabilities(),
            sha256: None,
            limits: Limits::default(),
            failure: FailurePolicy::default(),
            config: toml::Table::new(),
        }
    }
}

/// A manifest that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The message carries the line, column and field, as toml reports them.
    #[error("{path}: {message}")]
    Invalid {
        /// The manifest file, or the name given to [`Manifest::parse`].
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
}

impl Manifest {
    /// Read a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
        Manifest::parse(&text, path)
    }

    /// Parse manifest text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        toml::from_str(text).map_err(|e| ManifestError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// The configuration as the JSON text `init` receives.
    pub fn config_json(&self) -> String {
        // A toml table always serializes to JSON; the fallback only keeps
        // this total.
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_string())
    }

    /// Whether the plugin decides requests of this method.
    pub fn sees(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m.0 == method.as_str())
    }

    /// Whether the capability is granted.
    pub fn grants(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

/// A method name in a manifest: a SIP token, case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct MethodName(String);

impl TryFrom<String> for MethodName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)) {
            Ok(MethodName(s))
        } else {
            Err(format!("`{s}` is not a SIP method name"))
        }
    }
}

impl From<MethodName> for String {
    fn from(m: MethodName) -> String {
        m.0
    }
}

/// A host capability a plugin may be granted: one imported interface of the
/// contract each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `sipwarden:policy/log`: lines in the host's log.
    Log,
    /// `sipwarden:policy/audit`: the audit trail.
    Audit,
    /// `sipwarden:policy/directory`: E.164 number look-up.
    Directory,
    /// `sipwarden:policy/credentials`: digest verification and challenges.
    Credentials,
}

impl Capability {
    /// Every capability, in the order of the contract's interfaces.
    pub const ALL: [Capability; 4] =
        [Capability::Log, Capability::Audit, Capability::Directory, Capability::Credentials];

    /// The interface name, as it appears in a component's imports.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Audit => "audit",
            Capability::Directory => "directory",
            Capability::Credentials => "credentials",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

/// A pinned component digest: 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Pin(String);

impl Sha256Pin {
    /// The digest as 64 lower-case hex digits (a pin written in upper case
    /// is lowered when parsed).
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Pin {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256Pin(s.to_ascii_lowercase()))
        } else {
            Err("sha256 must be 64 hexadecimal digits".to_string())
        }
    }
}

impl From<Sha256Pin> for String {
    fn from(p: Sha256Pin) -> String {
        p.0
    }
}

/// The largest memory cap a manifest may set. The engine's pooling allocator
/// reserves address space for this much per instance slot.
pub const MAX_MEMORY_MIB: u32 = 256;

/// Resource limits of each call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Wall-clock time a single call may take before it is interrupted.
    #[serde(default = "default_deadline")]
    pub deadline_ms: DeadlineMs,
    /// Linear memory an instance may grow to.
    #[serde(default = "default_memory")]
    pub memory_mib: MemoryMib,
    /// The largest audit record one `audit.append` may write, as JSON bytes.
    #[serde(default = "default_audit_record_bytes")]
    pub audit_record_bytes: u32,
    /// Audit records one call may write.
    #[serde(default = "default_audit_records_per_call")]
    pub audit_records_per_call: u32,
    /// Audit bytes a second the plugin may write, across all its instances
    /// (a burst of one second's worth is allowed).
    #[serde(default = "default_audit_bytes_per_second")]
    pub audit_bytes_per_second: u32,
    /// The longest log line the plugin may write; the rest is cut.
    #[serde(default = "default_log_line_bytes")]
    pub log_line_bytes: u32,
    /// Log lines a second the plugin may write, across all its instances;
    /// the excess is dropped and counted.
    #[serde(default = "default_log_lines_per_second")]
    pub log_lines_per_second: u32,
    /// Directory look-ups one call may make.
    #[serde(default = "default_per_call")]
    pub lookups_per_call: u32,
    /// Credential verifications and challenges one call may make.
    #[serde(default = "default_per_call")]
    pub verifications_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: default_deadline(),
            memory_mib: default_memory(),
            audit_record_bytes: default_audit_record_bytes(),
            audit_records_per_call: default_audit_records_per_call(),
            audit_bytes_per_second: default_audit_bytes_per_second(),
            log_line_bytes: default_log_line_bytes(),
            log_lines_per_second: default_log_lines_per_second(),
            lookups_per_call: default_per_call(),
            verifications_per_call: default_per_call(),
        }
    }
}

fn default_audit_record_bytes() -> u32 {
    8 * 1024
}

fn default_audit_records_per_call() -> u32 {
    4
}

fn default_audit_bytes_per_second() -> u32 {
    1024 * 1024
}

fn default_log_line_bytes() -> u32 {
    2048
}

fn default_log_lines_per_second() -> u32 {
    100
}

fn default_per_call() -> u32 {
    8
}

fn default_deadline() -> DeadlineMs {
    DeadlineMs(50)
}

fn default_memory() -> MemoryMib {
    MemoryMib(32)
}

/// A call deadline in milliseconds, 1 to 10 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct DeadlineMs(u64);

impl DeadlineMs {
    /// The deadline as a duration, measured in wall-clock time from the
    /// start of the call.
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl TryFrom<i64> for DeadlineMs {
    type Error = String;

    fn try_from(ms: i64) -> Result<Self, String> {
        match u64::try_from(ms) {
            Ok(ms @ 1..=10_000) => Ok(DeadlineMs(ms)),
            _ => Err(format!("deadline-ms must be from 1 to 10000, not {ms}")),
        }
    }
}

impl From<DeadlineMs> for i64 {
    fn from(d: DeadlineMs) -> i64 {
        d.0 as i64
    }
}

/// A memory cap in MiB, 1 to [`MAX_MEMORY_MIB`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct MemoryMib(u32);

impl MemoryMib {
    /// The cap in bytes.
    pub fn bytes(self) -> usize {
        self.0 as usize * 1024 * 1024
    }
}

impl TryFrom<i64> for MemoryMib {
    type Error = String;

    fn try_from(mib: i64) -> Result<Self, String> {
        match u32::try_from(mib) {
            Ok(mib) if (1..=MAX_MEMORY_MIB).contains(&mib) => Ok(MemoryMib(mib)),
            _ => Err(format!("memory-mib must be from 1 to {MAX_MEMORY_MIB}, not {mib}")),
        }
    }
}

impl From<MemoryMib> for i64 {
    fn from(m: MemoryMib) -> i64 {
        i64::from(m.0)
    }
}

/// What the chain does when a plugin fails (traps, overruns its deadline or
/// memory cap, or returns a malformed verdict).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FailurePolicy {
    /// Whether to answer the request or skip the plugin; closed by default.
    #[serde(default)]
    pub mode: FailureMode,
    /// The status of the answer when failing closed.
    #[serde(default = "default_failure_status")]
    pub status: FailureStatus,
    /// The reason phrase of the answer when failing closed.
    #[serde(default = "default_failure_reason")]
    pub reason: ReasonPhrase,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            mode: FailureMode::default(),
            status: default_failure_status(),
            reason: default_failure_reason(),
        }
    }
}

fn default_failure_status() -> FailureStatus {
    FailureStatus(500)
}

fn default_failure_reason() -> ReasonPhrase {
    ReasonPhrase("Policy Failure".to_string())
}

/// Fail closed (answer the request) or open (skip the plugin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureMode {
    /// Security policies fail closed: a broken check must not let a request
    /// through that it would have stopped.
    #[default]
    Closed,
    /// The request goes on to the next plugin as if this one were not in
    /// the chain, with a warning in the log: for a plugin whose work is
    /// best-effort, such as an audit trail some operators can do without.
    Open,
}

/// An error status, 400 to 699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct FailureStatus(u16);

impl FailureStatus {
    /// The status code, 400 to 699.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for FailureStatus {
    type Error = String;

    fn try_from(status: i64) -> Result<Self, String> {
        match u16::try_from(status) {
            Ok(s @ 400..=699) => Ok(FailureStatus(s)),
            _ => Err(format!("status must be an error status from 400 to 699, not {status}")),
        }
    }
}

impl From<FailureStatus> for i64 {
    fn from(s: FailureStatus) -> i64 {
        i64::from(s.0)
    }
}

/// A reason phrase: printable text without line breaks, at most 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReasonPhrase(String);

impl ReasonPhrase {
    /// The phrase as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReasonPhrase {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.len() <= 128 && !s.chars().any(char::is_control) {
            Ok(ReasonPhrase(s))
        } else {
            Err("reason must be at most 128 bytes of text without control characters".to_string())
        }
    }
}

impl From<ReasonPhrase> for String {
    fn from(r: ReasonPhrase) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("plugins/demo.toml"))
    }

    #[test]
    fn defaults_are_safe() {
        let m = parse("").unwrap();
        assert_eq!(m.order, 100);
        assert_eq!(m.failure.mode, FailureMode::Closed);
        assert_eq!(m.limits.deadline_ms.duration(), Duration::from_millis(50));
        assert_eq!(m.capabilities, vec![Capability::Log]);
        assert_eq!(m.config_json(), "{}");
    }

    #[test]
    fn full_manifest() {
        let m = parse(
            r#"
            version = "1.4.2"
            order = 5
            methods = ["REGISTER", "MESSAGE"]
            responses = true
            capabilities = ["log", "audit"]
            sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
            [limits]
            deadline-ms = 20
            memory-mib = 8
            [failure]
            mode = "open"
            [config]
            realm = "example.com"
            methods = ["MESSAGE"]
            "#,
        )
        .unwrap();
        assert!(m.sees(&Method::MESSAGE));
        assert!(!m.sees(&Method::INVITE));
        assert!(m.grants(Capability::Audit));
        assert_eq!(m.version.as_ref().map(ReasonPhrase::as_str), Some("1.4.2"));
        assert!(!m.grants(Capability::Credentials));
        assert_eq!(m.limits.memory_mib.bytes(), 8 << 20);
        assert_eq!(
            m.sha256.as_ref().unwrap().hex(),
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
        assert_eq!(m.config_json(), r#"{"methods":["MESSAGE"],"realm":"example.com"}"#);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse("order = 1\n[limits]\ndeadline-ms = 0\n").unwrap_err().to_string();
        assert!(err.starts_with("plugins/demo.toml: "), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("deadline-ms must be from 1 to 10000, not 0"), "{err}");

        let err = parse("ordr = 1\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("unknown field `ordr`"), "{err}");

        let err = parse("capabilities = [\"filesystem\"]\n").unwrap_err().to_string();
        assert!(err.contains("unknown variant `filesystem`"), "{err}");

        let err = parse("[failure]\nstatus = 200\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("400 to 699"), "{err}");

        let err = parse("methods = [\"MES SAGE\"]\n").unwrap_err().to_string();
        assert!(err.contains("not a SIP method name"), "{err}");

        let err = parse("sha256 = \"abc\"\n").unwrap_err().to_string();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }
}
