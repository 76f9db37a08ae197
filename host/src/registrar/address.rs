//! The address grammar of the headers a registrar reads (RFC 3261 §20.10,
//! §25.1): comma-separated lists, `name-addr` / `addr-spec`, and the header
//! parameters that follow an address.
//!
//! The sip module checks To and From for every message; Contact and Path are
//! forwarded as text, so the registrar reads them here. Errors are fixed
//! phrases, never echoes of the wire: they become reason phrases.

/// Why an address or list could not be read.
pub(super) type Malformed = &'static str;

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_token_char)
}

/// Tracks whether a left-to-right scan is inside a `quoted-string`, where
/// `,`, `;` and `<` are plain text (a display name such as `"Doe, John"`, or
/// `+sip.instance="<urn:uuid:…>"`).
#[derive(Default)]
struct Quoting {
    quoted: bool,
    escaped: bool,
}

impl Quoting {
    /// Feeds the next character; true if it belongs to a quoted string,
    /// quotes included.
    fn step(&mut self, c: char) -> bool {
        if self.escaped {
            self.escaped = false;
        } else if self.quoted {
            match c {
                '\\' => self.escaped = true,
                '"' => self.quoted = false,
                _ => {}
            }
        } else if c == '"' {
            self.quoted = true;
        } else {
            return false;
        }
        true
    }
}

/// Splits a header value at the commas that separate its elements: not those
/// in a quoted string, nor those inside `<…>` (a SIP user part may hold a
/// comma). Elements come back trimmed; an empty one is malformed.
pub(super) fn split_list(value: &str) -> Result<Vec<&str>, Malformed> {
    let mut quoting = Quoting::default();
    let mut bracketed = false;
    let elements: Vec<&str> = value
        .split(|c| {
            if quoting.step(c) {
                return false;
            }
            match c {
                '<' => bracketed = true,
                '>' => bracketed = false,
                _ => {}
            }
            c == ',' && !bracketed
        })
        .map(|element| element.trim_matches(is_ws))
        .collect();
    if quoting.quoted || bracketed {
        Err("unterminated quoted string or <URI>")
    } else if elements.iter().any(|element| element.is_empty()) {
        Err("empty list element")
    } else {
        Ok(elements)
    }
}

/// Splits `text`, which starts with a quoted string, after its closing quote.
fn split_quoted(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with('"') {
        return None;
    }
    let mut quoting = Quoting::default();
    let (close, _) = text.char_indices().find(|&(_, c)| {
        quoting.step(c);
        !quoting.quoted
    })?;
    text.split_at_checked(close + 1)
}

/// The URI of a value that is either a `name-addr` (`"Bob" <sip:…>;tag=x`)
/// or a bare URI, as a Request-URI or an `addr-spec` To is. A bare URI is
/// returned whole: its `;` parameters are the URI's own, which matters for a
/// user part such as `alice;day=tuesday`.
pub(super) fn uri_of(text: &str) -> Result<&str, Malformed> {
    let text = text.trim_matches(is_ws);
    let mut quoting = Quoting::default();
    if text.contains(|c| !quoting.step(c) && c == '<') {
        Address::parse(text).map(|address| address.uri)
    } else {
        Ok(text)
    }
}

/// One address with its header parameters: a Contact or Path element.
#[derive(Debug)]
pub(super) struct Address<'a> {
    /// The URI, without the angle brackets.
    pub uri: &'a str,
    /// `(name, value)` in order; a parameter without `=` has an empty value.
    /// Quoted values keep their quotes.
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Address<'a> {
    /// Reads `( name-addr / addr-spec ) *( SEMI generic-param )`. In the
    /// `addr-spec` form the URI ends at the first `;`: what follows are header
    /// parameters (RFC 3261 §20.10), which is why a Contact URI with
    /// parameters of its own must be in angle brackets.
    pub fn parse(text: &'a str) -> Result<Self, Malformed> {
        let text = text.trim_matches(is_ws);
        let mut quoting = Quoting::default();
        let (uri, rest) = match text.split_once(|c| !quoting.step(c) && c == '<') {
            Some((display_name, bracketed)) => {
                check_display_name(display_name.trim_matches(is_ws))?;
                bracketed.split_once('>').ok_or("missing > after the URI")?
            }
            None if text.starts_with('"') => return Err("a quoted display name must be followed by <URI>"),
            None => text.split_at(text.find([';', ' ', '\t']).unwrap_or(text.len())),
        };
        if uri.is_empty() || uri.contains(is_ws) {
            return Err("missing or spaced URI");
        }
        Ok(Address { uri, params: parse_params(rest)? })
    }

    /// The value of the first parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|&(_, value)| value)
    }
}

/// A display name is a quoted string or a run of tokens.
fn check_display_name(display_name: &str) -> Result<(), Malformed> {
    let valid = match split_quoted(display_name) {
        Some((_, rest)) => rest.is_empty(),
        None => display_name.split(is_ws).all(|word| word.is_empty() || is_token(word)),
    };
    if valid { Ok(()) } else { Err("malformed display name") }
}

/// Reads `*( SEMI name [ EQUAL value ] )`, where a value is a token, a host
/// (so `[` `]` `:` for IPv6) or a quoted string.
fn parse_params(mut rest: &str) -> Result<Vec<(&str, &str)>, Malformed> {
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(is_ws);
        if rest.is_empty() {
            return Ok(params);
        }
        rest = rest.strip_prefix(';').ok_or("unexpected text after the address")?.trim_start_matches(is_ws);
        let (name, after) = rest.split_at(rest.find(|c| !is_token_char(c)).unwrap_or(rest.len()));
        if name.is_empty() {
            return Err("empty parameter name");
        }
        let after = after.trim_start_matches(is_ws);
        let (value, after) = match after.strip_prefix('=').map(|value| value.trim_start_matches(is_ws)) {
            Some(quoted) if quoted.starts_with('"') => split_quoted(quoted).ok_or("unterminated quoted string")?,
            Some(value) => {
                let split =
                    value.split_at(value.find(|c| !is_token_char(c) && !"[]:".contains(c)).unwrap_or(value.len()));
                if split.0.is_empty() {
                    return Err("empty parameter value");
                }
                split
            }
            None => ("", after),
        };
        params.push((name, value));
        rest = after;
    }
}

/// The value of a parameter without its quotes, if it had any. Escapes are
/// kept: the value is only compared and sent back quoted.
pub(super) fn unquote(value: &str) -> &str {
    value.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(value)
}

/// Whether a header such as Supported or Require lists the option tag `tag`.
pub(super) fn lists_tag<'a>(values: impl Iterator<Item = &'a str>, tag: &str) -> bool {
    option_tags(values).any(|listed| listed.eq_ignore_ascii_case(tag))
}

/// The option tags of headers such as Supported or Require.
pub(super) fn option_tags<'a>(values: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values.flat_map(|value| value.split(',')).map(|tag| tag.trim_matches(is_ws)).filter(|tag| !tag.is_empty())
}
