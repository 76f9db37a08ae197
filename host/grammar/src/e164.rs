//! Normalization of telephone numbers to E.164 (`+` and 1–15 digits): the
//! one reader of numbers, which the host's directories use both when they
//! load their tables and when they are asked.
//!
//! A directory look-up is only unique if every spelling of a number reaches
//! the same key, so a plugin hands the number to the directory as written
//! and the host normalizes it here.

use std::fmt;

use crate::tel::is_visual_separator;

/// Why a string is not a usable E.164 number. The messages are short enough
/// to serve as the reason phrase of a 4xx response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberError {
    /// No digits at all.
    Empty,
    /// A character that is neither a digit nor a visual separator.
    InvalidCharacter(char),
    /// Neither a leading `+` nor a global `phone-context`.
    NotGlobal,
    /// A local `tel:` number whose `phone-context` is a domain name.
    DomainContext,
    /// More digits than E.164's 15; holds how many.
    TooLong(usize),
    /// A leading 0, which no country code has.
    LeadingZero,
    /// An `ext` or `isub` parameter.
    Extension,
    /// A `tel:` URI with an empty or repeated `phone-context` or an empty
    /// parameter.
    MalformedUri,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::Empty => f.write_str("the number has no digits"),
            NumberError::InvalidCharacter(c) => {
                write!(f, "the number contains {c:?}, which is neither a digit nor a visual separator")
            }
            NumberError::NotGlobal => f.write_str("the number has no leading '+' and no global phone-context"),
            NumberError::DomainContext => {
                f.write_str("the number's phone-context is a domain name, so it has no E.164 form")
            }
            NumberError::TooLong(digits) => {
                write!(f, "the number has {digits} digits, but E.164 allows at most {MAX_DIGITS}")
            }
            NumberError::LeadingZero => f.write_str("the number starts with 0, which no E.164 country code does"),
            NumberError::Extension => {
                f.write_str("the number has an extension or subaddress, which E.164 cannot express")
            }
            NumberError::MalformedUri => f.write_str("the tel: URI is malformed"),
        }
    }
}

impl std::error::Error for NumberError {}

/// The longest number E.164 allows, country code included.
const MAX_DIGITS: usize = 15;

/// Normalizes a telephone number to `+` followed by 1–15 digits.
///
/// Accepts global numbers written with visual separators (`+1 (555)
/// 123-4567`, `+1.555.123.4567`; spaces too, as people type them) and
/// RFC 3966 `tel:` URIs, where a space is not allowed. A local `tel:`
/// number is accepted only when its `phone-context` is a global number
/// prefix (`tel:123-4567;phone-context=+1-555`), since only then does it
/// name one E.164 number. Of a `tel:` URI's other parameters only `ext` and
/// `isub` matter (refused: E.164 cannot express them); the rest are not
/// read. Idempotent: a normalized number normalizes to itself.
pub fn normalize_e164(input: &str) -> Result<String, NumberError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(NumberError::Empty);
    }
    let tel = input.get(..4).filter(|scheme| scheme.eq_ignore_ascii_case("tel:"));
    if let Some(subscriber) = tel.and(input.get(4..)) {
        return from_tel_uri(subscriber);
    }
    let Some(number) = input.strip_prefix('+') else {
        digits(input, true)?;
        return Err(NumberError::NotGlobal);
    };
    global(&digits(number, true)?)
}

/// Handles the part of a `tel:` URI after the scheme (RFC 3966 §3).
fn from_tel_uri(subscriber: &str) -> Result<String, NumberError> {
    let mut parts = subscriber.split(';');
    let number = parts.next().unwrap_or_default();
    let mut context = None;
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.eq_ignore_ascii_case("phone-context") {
            if context.replace(value).is_some() || value.is_empty() {
                return Err(NumberError::MalformedUri);
            }
        } else if name.eq_ignore_ascii_case("ext") || name.eq_ignore_ascii_case("isub") {
            return Err(NumberError::Extension);
        } else if name.is_empty() {
            return Err(NumberError::MalformedUri);
        }
    }

    if let Some(number) = number.strip_prefix('+') {
        return global(&digits(number, false)?);
    }
    let local = digits(number, false)?;
    match context.map(|context| context.strip_prefix('+')) {
        None => Err(NumberError::NotGlobal),
        Some(None) => Err(NumberError::DomainContext),
        Some(Some(prefix)) => global(&(digits(prefix, false)? + &local)),
    }
}

/// Collects the digits of `text`, skipping RFC 3966 visual separators (and
/// spaces, outside URIs).
fn digits(text: &str, allow_spaces: bool) -> Result<String, NumberError> {
    let mut digits = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            c if is_visual_separator(c) => {}
            ' ' if allow_spaces => {}
            c => return Err(NumberError::InvalidCharacter(c)),
        }
    }
    Ok(digits)
}

fn global(digits: &str) -> Result<String, NumberError> {
    if digits.is_empty() {
        Err(NumberError::Empty)
    } else if digits.len() > MAX_DIGITS {
        Err(NumberError::TooLong(digits.len()))
    } else if digits.starts_with('0') {
        Err(NumberError::LeadingZero)
    } else {
        Ok(format!("+{digits}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From host/src/capability/e164.rs.
    #[test]
    fn accepts_common_spellings() {
        for input in [
            "+1 (555) 123-4567",
            "+1.555.123.4567",
            "+15551234567",
            "  +1-555-123-4567 ",
            "tel:+1-555-123-4567",
            "TEL:+1.555.123.4567;phone-context=+1",
            "tel:+1-555-123-4567;npdi;rn=+1-555-000-0000",
            "tel:123-4567;phone-context=+1-555",
            "tel:1234567;PHONE-CONTEXT=+1555",
        ] {
            assert_eq!(normalize_e164(input).as_deref(), Ok("+15551234567"), "{input}");
        }
        assert_eq!(normalize_e164("+4"), Ok("+4".into()));
        assert_eq!(normalize_e164("+123456789012345"), Ok("+123456789012345".into()));
    }

    /// From host/src/capability/e164.rs.
    #[test]
    fn rejects_what_is_not_an_e164_number() {
        use NumberError::*;
        let cases = [
            ("", Empty),
            ("+", Empty),
            ("+ ( ) -", Empty),
            ("tel:", NotGlobal),
            ("+1-800-FLOWERS", InvalidCharacter('F')),
            ("5551234567", NotGlobal),
            ("abc", InvalidCharacter('a')),
            ("++15551234567", InvalidCharacter('+')),
            ("+1234567890123456", TooLong(16)),
            ("+0123", LeadingZero),
            ("tel:+1 555 123 4567", InvalidCharacter(' ')),
            ("tel:1234567", NotGlobal),
            ("tel:1234567;phone-context=example.com", DomainContext),
            ("tel:*123;phone-context=+1", InvalidCharacter('*')),
            ("tel:123;phone-context=+1;phone-context=+2", MalformedUri),
            ("tel:123;phone-context=", MalformedUri),
            ("tel:+15551234567;;x", MalformedUri),
            ("tel:+15551234567;ext=12", Extension),
            ("tel:+15551234567;isub=12", Extension),
            ("tel:4567;phone-context=+1-555-123-456-789-0", TooLong(18)),
            ("+١٢٣", InvalidCharacter('١')),
        ];
        for (input, error) in cases {
            assert_eq!(normalize_e164(input), Err(error), "{input:?}");
        }
    }

    /// From host/src/capability/e164.rs.
    #[test]
    fn errors_read_as_reason_phrases() {
        assert_eq!(NumberError::TooLong(16).to_string(), "the number has 16 digits, but E.164 allows at most 15");
        assert_eq!(
            NumberError::InvalidCharacter('a').to_string(),
            "the number contains 'a', which is neither a digit nor a visual separator"
        );
    }

    /// From plugins/lookup-guard: the reasons a client reads in a 484.
    #[test]
    fn lookup_guard_reasons() {
        let reason = |input: &str| normalize_e164(input).unwrap_err().to_string();
        assert_eq!(reason("tel:5551234"), "the number has no leading '+' and no global phone-context");
        assert_eq!(
            reason("tel:1234;phone-context=example.com"),
            "the number's phone-context is a domain name, so it has no E.164 form"
        );
        assert_eq!(reason("tel:+0123"), "the number starts with 0, which no E.164 country code does");
        assert_eq!(
            reason("tel:+15551234567;ext=12"),
            "the number has an extension or subaddress, which E.164 cannot express"
        );
        assert_eq!(reason("tel:+"), "the number has no digits");
    }
}
