//! The host capabilities, each a module of its own. A function here is
//! imported by the component only if the policy calls it; the operator must
//! grant the capability in the manifest.

/// Write to the host's log, tagged with the plugin's name.
pub mod log {
    use crate::bindings::sipwarden::policy::log::{Level, log};

    /// Log at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    /// Log at info level.
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    /// Log at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    /// Log at error level.
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// Append records to the host's audit trail.
pub mod audit {
    pub use crate::bindings::sipwarden::policy::audit::{Field, Value};

    /// Append one record; the host adds the time and the plugin's name.
    pub fn append(fields: &[Field]) -> Result<(), String> {
        crate::bindings::sipwarden::policy::audit::append(fields)
    }

    /// A text field.
    pub fn text(key: &str, value: impl Into<String>) -> Field {
        Field { key: key.to_string(), value: Value::Text(value.into()) }
    }

    /// An integer field.
    pub fn integer(key: &str, value: i64) -> Field {
        Field { key: key.to_string(), value: Value::Integer(value) }
    }

    /// A boolean field.
    pub fn boolean(key: &str, value: bool) -> Field {
        Field { key: key.to_string(), value: Value::Boolean(value) }
    }

    /// A text field when present, null otherwise.
    pub fn optional(key: &str, value: Option<String>) -> Field {
        Field { key: key.to_string(), value: value.map_or(Value::Null, Value::Text) }
    }
}

/// Look up E.164 numbers in the host's directory.
pub mod directory {
    pub use crate::bindings::sipwarden::policy::directory::{LookupError, lookup};
}

/// Verify digest credentials and issue challenges; no secret crosses into the plugin.
pub mod credentials {
    pub use crate::bindings::sipwarden::policy::credentials::{Identity, Verification, challenge, verify};
}
