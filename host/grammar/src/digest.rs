//! Digest challenge and credentials parameters (RFC 3261 §25.1
//! `digest-response` / `digest-cln`, RFC 7616 §3.3–3.4): the one reader the
//! host verifies credentials with and the plugins decide by.

use std::borrow::Cow;
use std::fmt;

use crate::token::{QuotedError, is_token_char, is_ws, quoted_string, unquote};

/// Why a header value is not a usable Digest challenge or credentials.
///
/// No variant holds wire text: these values carry credential material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The scheme is not `Digest`, or no white space follows it.
    NotDigest,
    /// `Digest` and no parameter.
    NoParameters,
    /// Something other than a token where a parameter name should be.
    BadName,
    /// A name without `=` and a value (a token or a quoted string).
    MissingValue,
    /// A quoted value that is not a well-formed quoted string.
    Quoted(QuotedError),
    /// A parameter given twice: which one the verifier and a plugin would
    /// each read is exactly the ambiguity this reader exists to remove.
    Duplicate,
    /// Something after a value other than a comma.
    TrailingText,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::NotDigest => f.write_str("not Digest credentials or challenge"),
            DigestError::NoParameters => f.write_str("Digest without parameters"),
            DigestError::BadName => f.write_str("a Digest parameter name is not a token"),
            DigestError::MissingValue => f.write_str("a Digest parameter has no value"),
            DigestError::Quoted(error) => error.fmt(f),
            DigestError::Duplicate => f.write_str("a Digest parameter is repeated"),
            DigestError::TrailingText => f.write_str("unexpected text after a Digest parameter"),
        }
    }
}

impl std::error::Error for DigestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DigestError::Quoted(error) => Some(error),
            _ => None,
        }
    }
}

/// The parameters of a `Digest` credentials value (`Authorization`,
/// `Proxy-Authorization`) or challenge (`WWW-Authenticate`,
/// `Proxy-Authenticate`): `Digest name=value, name="quoted \"value\"", …`.
///
/// Strict, because the host verifies the credentials and a plugin decides
/// by them, and both must read the same thing: a repeated parameter, an
/// unquoted value that is not a token, or anything after a value but a
/// comma refuses the whole value. Empty list elements (`a=1,,b=2`) are
/// skipped, as RFC 7235's list rule allows. Names compare without regard
/// to case; values come unquoted, escapes resolved.
#[derive(Clone, Debug)]
pub struct DigestParams<'a> {
    params: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> DigestParams<'a> {
    /// Reads a whole header value.
    pub fn parse(value: &'a str) -> Result<Self, DigestError> {
        let value = value.trim_start_matches(is_ws);
        let (scheme, mut rest) = value.split_once(is_ws).ok_or(DigestError::NotDigest)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let mut params: Vec<(&'a str, Cow<'a, str>)> = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c| c == ',' || is_ws(c));
            if rest.is_empty() {
                break;
            }
            let name_len = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
            if name_len == 0 {
                return Err(DigestError::BadName);
            }
            let (name, after) = rest.split_at(name_len);
            let after = after.trim_start_matches(is_ws).strip_prefix('=').ok_or(DigestError::MissingValue)?;
            let after = after.trim_start_matches(is_ws);
            let (value, after) = if after.starts_with('"') {
                let (quoted, after) = quoted_string(after).map_err(DigestError::Quoted)?;
                (unquote(quoted), after)
            } else {
                let len = after.find(|c| !is_token_char(c)).unwrap_or(after.len());
                if len == 0 {
                    return Err(DigestError::MissingValue);
                }
                let (token, after) = after.split_at(len);
                (Cow::Borrowed(token), after)
            };
            if params.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(name)) {
                return Err(DigestError::Duplicate);
            }
            params.push((name, value));
            rest = after.trim_start_matches(is_ws);
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(DigestError::TrailingText);
            }
        }
        if params.is_empty() {
            return Err(DigestError::NoParameters);
        }
        Ok(DigestParams { params })
    }

    /// The value of parameter `name` (case-insensitive), unquoted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_ref())
    }

    /// The parameters in order: name as written, value unquoted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(name, value)| (*name, value.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From host/src/capability/credentials.rs.
    #[test]
    fn parser_is_tolerant_of_legal_variations() {
        let params =
            DigestParams::parse("  dIgEsT  UserName = \"a\\\"b\\\\c\" ,, realm=\"x, y\",nonce=abc ,  qop = auth")
                .unwrap();
        assert_eq!(params.get("username"), Some("a\"b\\c"));
        assert_eq!(params.get("realm"), Some("x, y"));
        assert_eq!(params.get("nonce"), Some("abc"));
        assert_eq!(params.get("qop"), Some("auth"));
    }

    /// From host/src/capability/credentials.rs: every one is refused.
    #[test]
    fn ugly_values_are_refused() {
        for ugly in [
            "",
            "Digest",
            "Digest ",
            "Digest =",
            "Digest a",
            "Digest a=",
            "Digest a=\"",
            "Digest a=\"\\",
            "Digest a=\"x\"b=1",
            "Digest a=1, a=2",
            "Digest a=1, A=2",
            "Digest ,,,,",
            "Digest username=\"é\u{0}\", realm=\"example.com\"",
            "Digest nonce=a/b",
            "Digest nonce=a b",
            "Basic YWxhZGRpbg==",
            "\u{FEFF}Digest username=alice",
        ] {
            assert!(DigestParams::parse(ugly).is_err(), "{ugly:?}");
        }
        assert_eq!(DigestParams::parse("Digest a=1, a=2").unwrap_err(), DigestError::Duplicate);
        assert_eq!(DigestParams::parse("Digest a=\"x\"b=1").unwrap_err(), DigestError::TrailingText);
        assert_eq!(DigestParams::parse("Basic x").unwrap_err(), DigestError::NotDigest);
    }

    /// From plugins/sdk/src/capability.rs (`digest_param`).
    #[test]
    fn parameters_are_read_with_the_auth_param_grammar() {
        let param = |value: &str, name: &str| DigestParams::parse(value).ok()?.get(name).map(str::to_owned);
        let realm = |value: &str| param(value, "realm");
        assert_eq!(realm("Digest username=\"a\", realm=\"x, \\\"y\\\"\", nonce=n"), Some("x, \"y\"".into()));
        assert_eq!(realm("Digest username=a,realm=example.com"), Some("example.com".into()));
        assert_eq!(realm("digest REALM=example.com"), Some("example.com".into()));
        assert_eq!(realm("Basic YWxhZGRpbg=="), None);
        assert_eq!(realm("Digest realm=\"open"), None);
        assert_eq!(realm("Digest username=a"), None);
        // A `username=` inside another parameter's quoted value is not it.
        let tricky = "Digest realm=\"username=mallory\", username=\"alice\", nonce=n";
        assert_eq!(param(tricky, "username"), Some("alice".into()));
        assert_eq!(param("Digest username=\"\", realm=x", "username"), Some(String::new()));
    }

    #[test]
    fn challenges_read_too() {
        let challenge = "Digest realm=\"a \\\"b\\\" \\\\c\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\", stale=true";
        let params = DigestParams::parse(challenge).unwrap();
        assert_eq!(params.get("realm"), Some("a \"b\" \\c"));
        assert_eq!(
            params.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            ["realm", "nonce", "algorithm", "qop", "stale"]
        );
    }
}
