//! Host-side capability backends.
//!
//! Policy plugins run sandboxed and never hold secrets: when a plugin needs to
//! check a digest response, write an audit record or map a telephone number to
//! users, it asks the host, and the host does the work with material the plugin
//! cannot see. This module holds those backends:
//!
//! * [`CredentialStore`] and [`DigestAuthority`]: SIP digest authentication
//!   (RFC 3261 §22, RFC 7616, RFC 8760) against operator-managed HA1 hashes.
//! * [`AuditSink`]: an append-only JSON Lines audit log with explicit
//!   durability and rotation.
//! * [`Directory`], [`FileDirectory`] and [`EnumDirectory`]: E.164 number to
//!   user look-up, from a file or from the DNS (ENUM, RFC 6116).
//!
//! Configuration and I/O failures are reported as [`CapabilityError`]; each
//! backend's per-request outcomes (a rejected credential, an invalid number)
//! are ordinary values of that backend's own types.

mod audit;
mod credentials;
mod directory;
mod enum_directory;
mod set;

use std::io;
use std::path::{Path, PathBuf};

pub use audit::{AuditSink, Durability, Rotation};
pub use credentials::{
    Algorithm, Clock, CredentialStore, DigestAuthority, RejectReason, Verification, digest_uri, ha1,
};
pub use directory::{Directory, DirectoryError, FileDirectory};
pub use enum_directory::{EnumConfig, EnumDirectory};
pub use set::{AuditRecorder, AuditTrail, Capabilities};
pub use sipwarden_grammar::{NumberError, normalize_e164};

/// Why a capability backend could not be set up or could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// A file could not be read, written, synced or renamed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being attempted, e.g. "read" or "rotate".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system answered.
        #[source]
        source: io::Error,
    },

    /// An operator-edited configuration file is wrong.
    ///
    /// Displayed as `file:line: field NAME: message` so the operator can jump
    /// straight to the offending entry.
    #[error("{}: {message}", config_location(path, *line, field.as_deref()))]
    Config {
        /// The file.
        path: PathBuf,
        /// 1-based line number, when the position is known.
        line: Option<usize>,
        /// The offending field or key, when one can be named.
        field: Option<String>,
        /// What is wrong, for the operator.
        message: String,
    },

    /// An audit record carried a field whose name suggests credential material.
    #[error(
        "audit record refused: field {field:?} is named like a secret; \
         credentials must never reach the audit log"
    )]
    SecretField {
        /// The field's name as the plugin wrote it, at whatever depth of the
        /// record.
        field: String,
    },

    /// An audit record used a field name the sink writes itself.
    #[error("audit record refused: field {field:?} is reserved for the audit sink")]
    ReservedField {
        /// `time`, which the sink writes, or `plugin`, which the
        /// [`AuditTrail`] stamps.
        field: String,
    },

    /// The host was not configured with this capability.
    #[error("no {0} is configured on this host")]
    NotConfigured(&'static str),

    /// A backend's worker (the ENUM resolver's thread and runtime) could not
    /// be started.
    #[error("cannot start {what}: {source}")]
    Start {
        /// The worker, e.g. "the ENUM resolver".
        what: &'static str,
        /// Why the thread, its runtime or the resolver could not start.
        #[source]
        source: io::Error,
    },

    /// The operating system could not provide random bytes.
    #[error("cannot obtain random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

fn config_location(path: &Path, line: Option<usize>, field: Option<&str>) -> String {
    let mut location = path.display().to_string();
    if let Some(line) = line {
        location = format!("{location}:{line}");
    }
    if let Some(field) = field {
        location = format!("{location}: field {field}");
    }
    location
}

/// Reads a configuration file, naming it in the error.
fn read_config(path: &Path) -> Result<String, CapabilityError> {
    std::fs::read_to_string(path).map_err(|source| CapabilityError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Turns a `toml` deserialization error into a [`CapabilityError::Config`]
/// that carries the line it points at.
fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> CapabilityError {
    CapabilityError::Config {
        path: path.to_path_buf(),
        line: error.span().map(|span| line_of(text, span.start)),
        field: None,
        message: error.message().trim_end().to_owned(),
    }
}

/// The 1-based line number of a byte offset in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}
