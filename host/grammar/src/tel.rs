//! `tel:` URIs (RFC 3966).

use std::fmt;

/// Why a `tel:` URI was refused. No variant holds wire text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelError {
    /// The scheme is not `tel`.
    NotTel,
    /// The number is neither `+` and digits nor a local number (hex digits,
    /// `*`, `#`), visual separators `-.()` aside.
    BadNumber,
    /// A parameter does not follow the grammar: an empty one, a name that
    /// is not letters, digits and `-`, a value with characters RFC 3966
    /// does not allow, a `phone-context` that is neither a domain name nor
    /// a global number prefix.
    BadParameter,
    /// A parameter appears twice (which one counts would be a guess).
    DuplicateParameter,
    /// A local number without the `phone-context` RFC 3966 §5.1.5 requires.
    NoContext,
}

impl fmt::Display for TelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TelError::NotTel => "the URI is not a tel: URI",
            TelError::BadNumber => "the tel: URI's number is malformed",
            TelError::BadParameter => "the tel: URI's parameters are malformed",
            TelError::DuplicateParameter => "the tel: URI repeats a parameter",
            TelError::NoContext => "the tel: URI's local number has no phone-context",
        })
    }
}

impl std::error::Error for TelError {}

/// RFC 3966 `visual-separator`.
pub(crate) fn is_visual_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')')
}

/// `global-number-digits` without its `+`: phone digits with at least one
/// digit.
fn is_global_digits(digits: &str) -> bool {
    digits.chars().any(|c| c.is_ascii_digit()) && digits.chars().all(|c| c.is_ascii_digit() || is_visual_separator(c))
}

/// `local-number-digits`: hex digits, `*` and `#` with visual separators,
/// at least one that is not a separator.
fn is_local_digits(digits: &str) -> bool {
    let is_digit = |c: char| c.is_ascii_hexdigit() || c == '*' || c == '#';
    digits.chars().any(is_digit) && digits.chars().all(|c| is_digit(c) || is_visual_separator(c))
}

/// RFC 3966 `domainname`: labels of letters, digits and inner hyphens, the
/// last starting with a letter, an optional final dot.
fn is_domain_name(text: &str) -> bool {
    let labels = text.strip_suffix('.').unwrap_or(text);
    let well_formed = !labels.is_empty()
        && labels.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    well_formed && labels.rsplit('.').next().is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// A run of `paramchar` (`[]/:&+$`, unreserved, `%HH`), or of `uric`
/// (RFC 2396 reserved, unreserved, `%HH`) for `isub`.
fn is_param_value(value: &str, uric: bool) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if !bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric()
            || b"-_.!~*'()".contains(&b)
            || b"[]/:&+$".contains(&b)
            || (uric && b"/?:@&=+$,".contains(&b));
        if !allowed {
            return false;
        }
        i += 1;
    }
    !value.is_empty()
}

/// A `tel:` URI (RFC 3966 §3): a global number (`tel:+1-555-123-4567`) or
/// a local one with its `phone-context` (`tel:123-4567;phone-context=+1-555`),
/// and parameters. Checked against the grammar when parsed; borrows the text.
///
/// A `phone-context` on a global number, which §5.1.5 says not to send, is
/// read as an ordinary parameter and plays no part in the number.
#[derive(Clone, Copy, Debug)]
pub struct TelUri<'a> {
    number: &'a str,
    /// After the first `;`; empty without parameters.
    params: &'a str,
}

impl<'a> TelUri<'a> {
    /// Parses `tel:` (any case) and the telephone-subscriber after it.
    pub fn parse(text: &'a str) -> Result<Self, TelError> {
        let body = match text.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => text.get(4..).unwrap_or_default(),
            _ => return Err(TelError::NotTel),
        };
        let (number, params) = body.split_once(';').unwrap_or((body, ""));
        let well_formed = match number.strip_prefix('+') {
            Some(digits) => is_global_digits(digits),
            None => is_local_digits(number),
        };
        if !well_formed {
            return Err(TelError::BadNumber);
        }
        let uri = TelUri { number, params };
        let mut seen: Vec<&str> = Vec::new();
        if !params.is_empty() {
            for param in params.split(';') {
                let (name, value) = match param.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (param, None),
                };
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(TelError::BadParameter);
                }
                if seen.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
                    return Err(TelError::DuplicateParameter);
                }
                seen.push(name);
                let valid = match value {
                    None => !is_named(name, "phone-context") && !is_named(name, "ext") && !is_named(name, "isub"),
                    Some(value) if is_named(name, "phone-context") => match value.strip_prefix('+') {
                        Some(digits) => is_global_digits(digits),
                        None => is_domain_name(value),
                    },
                    Some(value) if is_named(name, "ext") => {
                        !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || is_visual_separator(c))
                    }
                    Some(value) => is_param_value(value, is_named(name, "isub")),
                };
                if !valid {
                    return Err(TelError::BadParameter);
                }
            }
        }
        if !uri.is_global() && uri.phone_context().is_none() {
            return Err(TelError::NoContext);
        }
        Ok(uri)
    }

    /// A global number: `+`, country code and the rest.
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number as written, visual separators included.
    pub fn number(&self) -> &'a str {
        self.number
    }

    /// The parameters in order, as written (`None` for a flag).
    pub fn params(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        let params = self.params;
        params.split(';').filter(move |_| !params.is_empty()).map(|param| match param.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (param, None),
        })
    }

    /// The value of parameter `name` (case-insensitive): `None` when absent,
    /// `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.unwrap_or_default())
    }

    /// The `phone-context` of a local number (a domain name or a global
    /// number prefix); `None` for a global number.
    pub fn phone_context(&self) -> Option<&'a str> {
        if self.is_global() { None } else { self.param("phone-context") }
    }

    /// The telephone-subscriber in the form RFC 3966 §4 compares numbers
    /// in: visual separators dropped, hex digits in upper case, and for a
    /// local number its `phone-context` (a domain in lower case without a
    /// final dot, a number prefix without separators); `ext` and `isub`,
    /// which name another line, follow when present. `tel:+1-555-123-4567`
    /// gives `+15551234567`.
    pub fn subscriber(&self) -> String {
        let digits = |text: &str| -> String {
            text.chars().filter(|&c| !is_visual_separator(c)).map(|c| c.to_ascii_uppercase()).collect()
        };
        let mut key = digits(self.number);
        if let Some(context) = self.phone_context() {
            let context = match context.strip_prefix('+') {
                Some(prefix) => format!("+{}", digits(prefix)),
                None => context.strip_suffix('.').unwrap_or(context).to_ascii_lowercase(),
            };
            key.push_str(&format!(";phone-context={context}"));
        }
        if let Some(ext) = self.param("ext") {
            key.push_str(&format!(";ext={}", digits(ext)));
        }
        if let Some(isub) = self.param("isub") {
            key.push_str(&format!(";isub={isub}"));
        }
        key
    }
}

fn is_named(name: &str, expected: &str) -> bool {
    name.eq_ignore_ascii_case(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_local_numbers() {
        let global = TelUri::parse("tel:+1-555-123-4567").unwrap();
        assert!(global.is_global());
        assert_eq!((global.number(), global.subscriber()), ("+1-555-123-4567", "+15551234567".to_string()));
        let local = TelUri::parse("TEL:123-4567;Phone-Context=+1-555").unwrap();
        assert!(!local.is_global());
        assert_eq!(local.phone_context(), Some("+1-555"));
        assert_eq!(local.subscriber(), "1234567;phone-context=+1555");
        let domain = TelUri::parse("tel:*1#a;phone-context=Example.COM.").unwrap();
        assert_eq!(domain.subscriber(), "*1#A;phone-context=example.com");
        // identity's reading: a phone-context on a global number is ignored.
        let odd = TelUri::parse("tel:+1-555-123-4567;phone-context=x").unwrap();
        assert_eq!((odd.phone_context(), odd.subscriber()), (None, "+15551234567".to_string()));
        let params = TelUri::parse("tel:+1-555-123-4567;npdi;rn=+1-555-000-0000;ext=12").unwrap();
        assert_eq!(
            params.params().collect::<Vec<_>>(),
            [("npdi", None), ("rn", Some("+1-555-000-0000")), ("ext", Some("12"))]
        );
        assert_eq!(params.param("NPDI"), Some(""));
        assert_eq!(params.subscriber(), "+15551234567;ext=12");
    }

    #[test]
    fn refusals() {
        for (text, error) in [
            ("sip:+1@h", TelError::NotTel),
            ("tel:", TelError::BadNumber),
            ("tel:+", TelError::BadNumber),
            ("tel:+1 555", TelError::BadNumber),
            ("tel:+1-800-FLOWERS", TelError::BadNumber),
            ("tel:alice;phone-context=+1", TelError::BadNumber),
            ("tel:1234567", TelError::NoContext),
            ("tel:+1;;x", TelError::BadParameter),
            ("tel:+1;a b", TelError::BadParameter),
            ("tel:+1;a=", TelError::BadParameter),
            ("tel:+1;a=\"x\"", TelError::BadParameter),
            ("tel:+1;ext", TelError::BadParameter),
            ("tel:+1;ext=1a", TelError::BadParameter),
            ("tel:1;phone-context=+", TelError::BadParameter),
            ("tel:1;phone-context=exa_mple.com", TelError::BadParameter),
            ("tel:1;phone-context=example.123", TelError::BadParameter),
            ("tel:1;phone-context=+1;PHONE-CONTEXT=+2", TelError::DuplicateParameter),
        ] {
            assert_eq!(TelUri::parse(text).map(|_| ()), Err(error), "{text}");
        }
        assert!(TelUri::parse("tel:+1;isub=a/b?c@d").is_ok());
    }
}
