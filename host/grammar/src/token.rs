//! Tokens and quoted strings (RFC 3261 §25.1).
//!
//! Header values reach the grammar unfolded: one line, linear white space
//! already reduced to spaces and tabs, so "LWS" here is SP and HT. A line
//! break left in a value is never white space to this crate: it is refused
//! wherever it appears, so that a value nobody unfolded cannot be misread.

use std::borrow::Cow;
use std::fmt;

/// A character of an RFC 3261 `token`: methods, header names, parameter
/// names and values, Digest parameter names.
///
/// This is SIP's token, not HTTP's `tchar` (RFC 7230), which adds
/// `# $ & ^ |`: SIP headers, `Authorization` included, follow RFC 3261.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~')
}

/// Whether `text` is an RFC 3261 `token`: one or more token characters.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_token_char)
}

/// SP or HT: linear white space once a value is unfolded.
pub(crate) fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(crate) fn trim_ws(text: &str) -> &str {
    text.trim_matches(is_ws)
}

/// Why a quoted string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotedError {
    /// The text does not start with `"`.
    NotQuoted,
    /// A `\` escapes a line break or a non-ASCII character, or ends the text.
    BadEscape,
    /// A control character other than HT (a line break included) stands
    /// unescaped between the quotes.
    ControlCharacter,
    /// No closing quote.
    Unterminated,
}

impl fmt::Display for QuotedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotedError::NotQuoted => "expected a quoted string",
            QuotedError::BadEscape => "bad escape in a quoted string",
            QuotedError::ControlCharacter => "control character in a quoted string",
            QuotedError::Unterminated => "unterminated quoted string",
        })
    }
}

impl std::error::Error for QuotedError {}

/// Reads the `quoted-string` that `text` starts with and returns it, quotes
/// included, with the text after its closing quote.
///
/// `qdtext` is any character but `"`, `\` and controls other than HT
/// (RFC 3261 allows the C1 controls U+0080–U+009F as UTF-8; they are refused
/// here too: nothing legitimate needs them, and a log or reason phrase that
/// echoes them could be misread). `quoted-pair` is `\` and any ASCII
/// character but CR and LF.
pub fn quoted_string(text: &str) -> Result<(&str, &str), QuotedError> {
    let mut chars = text.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err(QuotedError::NotQuoted);
    }
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok(text.split_at(at + 1)),
            '\\' => match chars.next() {
                Some((_, escaped)) if escaped.is_ascii() && escaped != '\r' && escaped != '\n' => {}
                _ => return Err(QuotedError::BadEscape),
            },
            c if c.is_control() && c != '\t' => return Err(QuotedError::ControlCharacter),
            _ => {}
        }
    }
    Err(QuotedError::Unterminated)
}

/// The value of a quoted string that [`quoted_string`] read (quotes
/// included): quotes removed and each `quoted-pair` replaced by the
/// character it escapes. Text that is not quoted comes back as it is.
/// Borrows when there is no escape to resolve.
pub fn unquote(quoted: &str) -> Cow<'_, str> {
    let Some(inner) = quoted.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) else {
        return Cow::Borrowed(quoted);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.extend(chars.next()),
            c => value.push(c),
        }
    }
    Cow::Owned(value)
}

/// Writes `value` as a quoted string that [`quoted_string`] reads back and
/// [`unquote`] turns into `value` again: `"` and `\` escaped, as is every
/// ASCII control but HT. `None` when `value` holds what no quoted string can
/// carry: a CR, an LF or a C1 control.
pub fn quote(value: &str) -> Option<String> {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '\r' | '\n' => return None,
            '\t' => {}
            '"' | '\\' => quoted.push('\\'),
            c if c.is_ascii_control() => quoted.push('\\'),
            c if c.is_control() => return None,
            _ => {}
        }
        quoted.push(c);
    }
    quoted.push('"');
    Some(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        // intmeth.dat's method: every token character.
        assert!(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
        for not in ["", "a b", "a:b", "a,b", "é", "a\"", "a#b", "a$b", "a&b", "a^b", "a|b", "<a>"] {
            assert!(!is_token(not), "{not}");
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(quoted_string(r#""J Rosenberg \\\""  <sip:x>"#), Ok((r#""J Rosenberg \\\"""#, "  <sip:x>")));
        assert_eq!(quoted_string("\"\u{442}\"x"), Ok(("\"\u{442}\"", "x")));
        assert_eq!(quoted_string("\"a\tb\""), Ok(("\"a\tb\"", "")));
        assert_eq!(quoted_string("x\"\""), Err(QuotedError::NotQuoted));
        assert_eq!(quoted_string("\"open"), Err(QuotedError::Unterminated));
        assert_eq!(quoted_string("\"a\\"), Err(QuotedError::BadEscape));
        assert_eq!(quoted_string("\"a\\\r\""), Err(QuotedError::BadEscape));
        assert_eq!(quoted_string("\"a\\\u{e9}\""), Err(QuotedError::BadEscape));
        assert_eq!(quoted_string("\"a\u{0}\""), Err(QuotedError::ControlCharacter));
        assert_eq!(quoted_string("\"a\r\nb\""), Err(QuotedError::ControlCharacter));
        assert_eq!(quoted_string("\"a\u{85}\""), Err(QuotedError::ControlCharacter));
        assert_eq!(QuotedError::Unterminated.to_string(), "unterminated quoted string");
    }

    #[test]
    fn unquoting_and_quoting() {
        assert_eq!(unquote(r#""a\"b\\c""#), "a\"b\\c");
        assert!(matches!(unquote("\"abc\""), Cow::Borrowed("abc")));
        assert!(matches!(unquote("token"), Cow::Borrowed("token")));
        assert_eq!(quote("a \"b\" \\c").as_deref(), Some(r#""a \"b\" \\c""#));
        assert_eq!(quote("a\u{1}b").as_deref(), Some("\"a\\\u{1}b\""));
        assert_eq!(quote("a\tb").as_deref(), Some("\"a\tb\""));
        assert_eq!(quote("a\nb"), None);
        assert_eq!(quote("a\u{85}b"), None);
    }
}
