//! Header parameter lists: `*( SEMI generic-param )` (RFC 3261 §25.1), as
//! they follow an address (From, To, Contact, Route) or a Via's sent-by.

use std::fmt;

use crate::excerpt::excerpt;
use crate::token::{QuotedError, is_token_char, is_ws, quoted_string};

/// Why a parameter list could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// Something other than `;` where a parameter should start.
    Unexpected(char),
    /// `;` not followed by a name (`;;`, `;=1`).
    EmptyName,
    /// `name=` without a value; holds the name.
    EmptyValue(String),
    /// A quoted value that is not a well-formed quoted string.
    Quoted(QuotedError),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Unexpected(c) => {
                write!(f, "unexpected {} where a parameter should start", excerpt(&c.to_string()))
            }
            ParamError::EmptyName => f.write_str("empty parameter name"),
            ParamError::EmptyValue(name) => write!(f, "parameter {} has an empty value", excerpt(name)),
            ParamError::Quoted(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ParamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParamError::Quoted(error) => Some(error),
            _ => None,
        }
    }
}

/// One parameter list, checked when it was read.
///
/// `generic-param = token [ EQUAL gen-value ]`, `gen-value = token / host /
/// quoted-string`, with white space allowed around `;` and `=`. Names
/// compare without regard to case; values are handed out as written, a
/// quoted value with its quotes ([`crate::unquote`] reads it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'a> {
    text: &'a str,
}

impl<'a> Params<'a> {
    /// Reads parameters from the start of `text` up to its end or a comma
    /// outside a quoted value (the next element of a list), and returns them
    /// with the rest: empty, or starting at that comma.
    pub fn parse(text: &'a str) -> Result<(Self, &'a str), ParamError> {
        let mut rest = text;
        let mut end = 0;
        while next_param(&mut rest).transpose()?.is_some() {
            end = text.len() - rest.len();
        }
        let params = Params { text: text.get(..end).unwrap_or_default() };
        Ok((params, rest))
    }

    /// The list as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The parameters in order: name as written, value as written (`None`
    /// for a flag such as `lr`).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        let mut rest = self.text;
        std::iter::from_fn(move || next_param(&mut rest).and_then(Result::ok))
    }

    /// The value of the first parameter named `name` (case-insensitive):
    /// `None` when absent, `Some("")` for a flag.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.unwrap_or_default())
    }
}

/// A name and its value, if it has one.
type Param<'a> = (&'a str, Option<&'a str>);

/// Reads the next `SEMI generic-param` of `rest`; `None` at the end of the
/// text or at a comma (where `rest` is left, white space skipped).
fn next_param<'a>(rest: &mut &'a str) -> Option<Result<Param<'a>, ParamError>> {
    let text = rest.trim_start_matches(is_ws);
    *rest = text;
    let after_semi = match text.chars().next() {
        None | Some(',') => return None,
        Some(';') => text.get(1..).unwrap_or_default().trim_start_matches(is_ws),
        Some(c) => return Some(Err(ParamError::Unexpected(c))),
    };
    let name_len = after_semi.find(|c| !is_token_char(c)).unwrap_or(after_semi.len());
    let (name, after_name) = after_semi.split_at(name_len);
    if name.is_empty() {
        return Some(Err(ParamError::EmptyName));
    }
    let after_name = after_name.trim_start_matches(is_ws);
    let Some(value_text) = after_name.strip_prefix('=') else {
        *rest = after_name;
        return Some(Ok((name, None)));
    };
    let value_text = value_text.trim_start_matches(is_ws);
    let (value, after) = if value_text.starts_with('"') {
        match quoted_string(value_text) {
            Ok(split) => split,
            Err(error) => return Some(Err(ParamError::Quoted(error))),
        }
    } else {
        // gen-value: token / host, so IPv6 references too.
        let len = value_text.find(|c| !is_token_char(c) && !"[]:".contains(c)).unwrap_or(value_text.len());
        value_text.split_at(len)
    };
    if value.is_empty() {
        return Some(Err(ParamError::EmptyValue(name.to_owned())));
    }
    *rest = after;
    Some(Ok((name, Some(value))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let (params, rest) = Params::parse(" ;  tag = 98asjd8 ; lr;p=\"a;b, c\";maddr=[::1] , next").unwrap();
        assert_eq!(rest, ", next");
        assert_eq!(
            params.iter().collect::<Vec<_>>(),
            [("tag", Some("98asjd8")), ("lr", None), ("p", Some("\"a;b, c\"")), ("maddr", Some("[::1]"))]
        );
        assert_eq!((params.get("TAG"), params.get("lr"), params.get("x")), (Some("98asjd8"), Some(""), None));
        assert_eq!(params.as_str(), " ;  tag = 98asjd8 ; lr;p=\"a;b, c\";maddr=[::1]");
        let (empty, rest) = Params::parse("  ").unwrap();
        assert!(empty.is_empty());
        assert_eq!(rest, "");
    }

    #[test]
    fn refusals() {
        assert_eq!(Params::parse(";;tag=1"), Err(ParamError::EmptyName));
        assert_eq!(Params::parse(";=1"), Err(ParamError::EmptyName));
        assert_eq!(Params::parse(";a="), Err(ParamError::EmptyValue("a".into())));
        assert_eq!(Params::parse(";a=\"x"), Err(ParamError::Quoted(QuotedError::Unterminated)));
        assert_eq!(Params::parse(" junk"), Err(ParamError::Unexpected('j')));
        assert_eq!(Params::parse(";a=b c"), Err(ParamError::Unexpected('c')));
        assert_eq!(ParamError::Unexpected('<').to_string(), "unexpected \"<\" where a parameter should start");
    }
}
