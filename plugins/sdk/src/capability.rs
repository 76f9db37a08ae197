//! The host capabilities, each a module of its own. A function here is
//! imported by the component only if the policy calls it; the operator must
//! grant the capability in the manifest.

/// Write to the host's log, tagged with the plugin's name.
///
/// Prefer the [`debug!`](crate::debug) family of macros for lines built with
/// `format!`: they skip the formatting when the host would drop the line.
pub mod log {
    use crate::bindings::sipwarden::policy::log::log;
    pub use crate::bindings::sipwarden::policy::log::{Level, enabled};

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

/// Log a line built like `format!`, at debug level, only if the host's log
/// filter keeps debug lines from plugins.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::__log!($crate::log::Level::Debug, $($arg)+) };
}

/// As [`debug!`](crate::debug), at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::__log!($crate::log::Level::Info, $($arg)+) };
}

/// As [`debug!`](crate::debug), at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::__log!($crate::log::Level::Warn, $($arg)+) };
}

/// As [`debug!`](crate::debug), at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::__log!($crate::log::Level::Error, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:expr, $($arg:tt)+) => {{
        let level = $level;
        if $crate::log::enabled(level) {
            $crate::bindings::sipwarden::policy::log::log(level, &::std::format!($($arg)+));
        }
    }};
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

    /// One parameter of `Digest` credentials (an `Authorization` or
    /// `Proxy-Authorization` value), unquoted: `digest_param(value, "realm")`.
    ///
    /// Read with the host's own reader
    /// ([`grammar::DigestParams`](sipwarden_grammar::DigestParams)), the one
    /// that verifies the credentials, so a policy decides by what the host
    /// verified: names compare without regard to case, a `name=` inside
    /// another parameter's quoted value is not mistaken for it. `None` when
    /// the credentials are not `Digest`, lack the parameter, or are
    /// malformed anywhere (a repeated parameter, an unterminated quoted
    /// string, an unquoted value that is not a token, junk after a value):
    /// such credentials the host refuses too.
    pub fn digest_param(credentials: &str, name: &str) -> Option<String> {
        sipwarden_grammar::DigestParams::parse(credentials).ok()?.get(name).map(str::to_owned)
    }

    #[cfg(test)]
    mod tests {
        use super::digest_param;

        /// Credentials the host would refuse name no realm to a policy
        /// either: which of two realms counts would be a guess.
        #[test]
        fn ambiguous_credentials_name_nothing() {
            for ambiguous in [
                "Digest realm=a, realm=b",
                "Digest realm=a, REALM=b",
                "Digest realm=a junk",
                "Digest realm=a/b",
                "Digest realm=\"a\"b=1",
            ] {
                assert_eq!(digest_param(ambiguous, "realm"), None, "{ambiguous}");
            }
        }
    }
}
