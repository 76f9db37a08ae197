//! Addresses in header values (RFC 3261 §20.10, §25.1): `name-addr` /
//! `addr-spec` with the header parameters that follow, and the
//! comma-separated lists they come in (Contact, Route, Record-Route, Path,
//! P-Asserted-Identity).

use std::borrow::Cow;
use std::fmt;

use crate::params::{ParamError, Params};
use crate::token::{QuotedError, is_token, is_ws, quoted_string, trim_ws, unquote};
use crate::uri::{UriError, check_uri};

/// Why a header value is not one address.
///
/// The `Display` text is a short phrase; only the [`UriError`] and
/// [`ParamError`] it may wrap show wire text, through [`crate::excerpt`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing where the URI should be.
    MissingUri,
    /// White space between `<` and `>`: `LAQUOT addr-spec RAQUOT` has none.
    SpaceInBrackets,
    /// `<` without its `>`.
    MissingClosingBracket,
    /// A quoted display name not followed by `<URI>`.
    QuotedNameWithoutBrackets,
    /// An unquoted display name that is not tokens separated by white space
    /// (`Bell, Alexander <sip:…>`).
    BadDisplayName,
    /// A quoted display name that is not a well-formed quoted string.
    Quoted(QuotedError),
    /// The URI does not follow the URI grammar.
    Uri(UriError),
    /// The header parameters after the address are malformed.
    Param(ParamError),
    /// Text after the address and its parameters: another address, or junk.
    TrailingText,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::MissingUri => f.write_str("missing URI"),
            AddressError::SpaceInBrackets => f.write_str("white space inside <>"),
            AddressError::MissingClosingBracket => f.write_str("missing > after the URI"),
            AddressError::QuotedNameWithoutBrackets => f.write_str("a quoted display name must be followed by <URI>"),
            AddressError::BadDisplayName => f.write_str("an unquoted display name must be a list of tokens"),
            AddressError::Quoted(error) => error.fmt(f),
            AddressError::Uri(error) => error.fmt(f),
            AddressError::Param(error) => error.fmt(f),
            AddressError::TrailingText => f.write_str("unexpected text after the address"),
        }
    }
}

impl std::error::Error for AddressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AddressError::Quoted(error) => Some(error),
            AddressError::Uri(error) => Some(error),
            AddressError::Param(error) => Some(error),
            _ => None,
        }
    }
}

/// Where a scan of a header value stands with respect to quoted strings
/// (RFC 3261 §25.1 `quoted-string`, with its `\\` escapes): the one reading
/// of "inside quotes" that finding a `<` and splitting a list share.
#[derive(Default)]
struct Quoting {
    quoted: bool,
    escaped: bool,
}

impl Quoting {
    /// Feed the next character; whether it stands outside every quoted
    /// string (the quotes themselves are inside). `quotes_open` says
    /// whether a `"` here would open one (inside `<…>` it does not).
    fn outside(&mut self, c: char, quotes_open: bool) -> bool {
        if self.escaped {
            self.escaped = false;
        } else if self.quoted {
            match c {
                '\\' => self.escaped = true,
                '"' => self.quoted = false,
                _ => {}
            }
        } else if c == '"' && quotes_open {
            self.quoted = true;
        } else {
            return true;
        }
        false
    }
}

/// The byte index of the first `target` outside a quoted string (a quoted
/// display name or parameter value, where `<`, `,` and `;` are text).
pub(crate) fn find_unquoted(text: &str, target: char) -> Option<usize> {
    let mut quoting = Quoting::default();
    text.char_indices().find(|&(_, c)| quoting.outside(c, true) && c == target).map(|(index, _)| index)
}

/// One address of a header value: `( name-addr / addr-spec ) *( SEMI
/// generic-param )`.
///
/// In the `addr-spec` form (no `<>`), the URI ends at the first `;`, `,` or
/// white space, and what follows `;` are header parameters, never the URI's
/// own (RFC 3261 §20.10: a URI with `,`, `?` or `;` must be in `<>`). So
/// `sip:alice@example.com;tag=1` is the URI `sip:alice@example.com` with a
/// `tag`. A bare URI that is not a header value (a Request-URI) is read
/// with [`crate::SipUri`] or [`crate::Uri`] instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address<'a> {
    /// The display name as written: a quoted string with its quotes, or
    /// tokens; `None` when there is none.
    display: Option<&'a str>,
    uri: &'a str,
    bracketed: bool,
    params: Params<'a>,
}

impl<'a> Address<'a> {
    /// Reads one address and checks all of it: the display name, the URI
    /// against the URI grammar ([`check_uri`]; URI headers only inside
    /// `<>`), the parameters, and that nothing follows.
    pub fn parse(value: &'a str) -> Result<Self, AddressError> {
        read(value, true)
    }

    /// Reads one address as [`Address::parse`] does, without checking the
    /// URI's characters: for a value that `parse` has accepted before (the
    /// host checks From and To once, when it parses the message, and asks
    /// for their tags on every request). On every value `parse` accepts,
    /// `split` gives the same address.
    pub fn split(value: &'a str) -> Result<Self, AddressError> {
        read(value, false)
    }

    /// The display name, unquoted (escapes resolved) if it was quoted;
    /// `None` when there is none or it is empty.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote).filter(|name| !name.is_empty())
    }

    /// The URI, without the angle brackets.
    pub fn uri(&self) -> &'a str {
        self.uri
    }

    /// Whether the URI was in `<>` (the name-addr form).
    pub fn is_name_addr(&self) -> bool {
        self.bracketed
    }

    /// The header parameters after the address.
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// The value of the first header parameter `name` (case-insensitive):
    /// `None` when absent, `Some("")` for a flag, a quoted value with its
    /// quotes.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }
}

fn read(value: &str, check: bool) -> Result<Address<'_>, AddressError> {
    let text = trim_ws(value);
    let (display, bracketed) = if text.starts_with('"') {
        let (quoted, after) = quoted_string(text).map_err(AddressError::Quoted)?;
        let inner = after.trim_start_matches(is_ws).strip_prefix('<').ok_or(AddressError::QuotedNameWithoutBrackets)?;
        (Some(quoted), Some(inner))
    } else if let Some(open) = find_unquoted(text, '<') {
        let display = trim_ws(text.get(..open).unwrap_or_default());
        if !display.split(is_ws).all(|word| word.is_empty() || is_token(word)) {
            return Err(AddressError::BadDisplayName);
        }
        (Some(display).filter(|display| !display.is_empty()), text.get(open + 1..))
    } else {
        (None, None)
    };
    let (uri, after) = match bracketed {
        Some(inner) => {
            let (uri, after) = inner.split_once('>').ok_or(AddressError::MissingClosingBracket)?;
            if uri.contains(is_ws) {
                return Err(AddressError::SpaceInBrackets);
            }
            (uri, after)
        }
        None => text.split_at(text.find([';', ',', ' ', '\t']).unwrap_or(text.len())),
    };
    if uri.is_empty() {
        return Err(AddressError::MissingUri);
    }
    if check {
        check_uri(uri, bracketed.is_some()).map_err(AddressError::Uri)?;
    }
    let (params, rest) = Params::parse(after).map_err(|error| match error {
        ParamError::Unexpected(_) => AddressError::TrailingText,
        error => AddressError::Param(error),
    })?;
    if !rest.is_empty() {
        return Err(AddressError::TrailingText);
    }
    Ok(Address { display, uri, bracketed: bracketed.is_some(), params })
}

/// The URI of one address in a header value (From, To, Contact, Route,
/// P-Asserted-Identity), read and checked as [`Address::parse`] reads it:
/// `"Alice" <sip:a@b;lr>;tag=1` gives `sip:a@b;lr`, `sip:a@b;tag=1` gives
/// `sip:a@b`.
pub fn uri_of(value: &str) -> Result<&str, AddressError> {
    Address::parse(value).map(|address| address.uri())
}

/// Why a header value could not be split into a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListError {
    /// A quoted string or a `<` is still open at the end of the value.
    Unterminated,
    /// An element is empty: `a,,b`, a leading or trailing comma, or a value
    /// of white space alone. RFC 3261's lists (`x *(COMMA x)`) have none; a
    /// caller that tolerates them can tell this case from the others.
    EmptyElement,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListError::Unterminated => "unterminated quoted string or <URI>",
            ListError::EmptyElement => "empty list element",
        })
    }
}

impl std::error::Error for ListError {}

/// Splits a header value at the commas that separate its elements: not
/// those in a quoted string (`"Doe, John"`, `+sip.instance="<urn:…>"`), nor
/// those inside `<…>` (a SIP user part may hold a comma). Inside `<…>`, a
/// `"` is not a quote: URIs have none, and the element's own reading
/// refuses it. Elements come back without surrounding white space; what
/// each holds is not checked here.
pub fn split_list(value: &str) -> Result<Vec<&str>, ListError> {
    let mut elements = Vec::new();
    let (mut quoting, mut bracketed, mut start) = (Quoting::default(), false, 0);
    for (index, c) in value.char_indices() {
        if !quoting.outside(c, !bracketed) {
            continue;
        }
        match c {
            '<' => bracketed = true,
            '>' => bracketed = false,
            ',' if !bracketed => {
                elements.push(trim_ws(value.get(start..index).unwrap_or_default()));
                start = index + 1;
            }
            _ => {}
        }
    }
    if quoting.quoted || bracketed {
        return Err(ListError::Unterminated);
    }
    elements.push(trim_ws(value.get(start..).unwrap_or_default()));
    if elements.iter().any(|element| element.is_empty()) {
        return Err(ListError::EmptyElement);
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From and To values the host's parser accepts (most from RFC 4475),
    /// from host/src/sip/syntax.rs.
    const GOOD_ADDRESSES: [&str; 8] = [
        "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
        r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
        "caller<sip:caller@example.com>;tag=323",
        "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;p=\"\u{442}\";tag=_token~1'+`*%!-.",
        "isbn:2983792873",
        "<http://www.example.com>;tag=3234233",
        "\"A;b\" <sip:a@example.com;lr>;tag=x1",
        "<sip:bob@example.com>",
    ];

    #[test]
    fn addresses() {
        for good in GOOD_ADDRESSES {
            assert!(Address::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:a@example.com, sip:b@example.com",
            "<sip:a@example.com>;;tag=1",
            "<sip:a@example.com",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        let to = Address::parse("\"A;b\" <sip:a@example.com;lr>;tag=x1").unwrap();
        assert_eq!(to.param("TAG"), Some("x1"));
        assert_eq!(Address::parse("sip:a@example.com").unwrap().param("tag"), None);
    }

    /// Without the URI check, every address the full check accepts splits
    /// into the same parts.
    #[test]
    fn split_addresses_agree_with_parsed_ones() {
        for good in GOOD_ADDRESSES {
            assert_eq!(Address::split(good), Address::parse(good), "{good}");
        }
    }

    /// From host/src/sip/uri.rs.
    #[test]
    fn finds_uris_in_addresses() {
        assert_eq!(uri_of("\"A <x>\" <sip:a@b;lr>;tag=1"), Ok("sip:a@b;lr"));
        assert_eq!(uri_of("sip:a@b;tag=1"), Ok("sip:a@b"));
        assert_eq!(uri_of("<sip:p1.example.com;lr>"), Ok("sip:p1.example.com;lr"));
        assert_eq!(uri_of("\"unterminated <sip:a@b>"), Err(AddressError::Quoted(QuotedError::Unterminated)));
    }

    /// From host/src/registrar/tests.rs.
    #[test]
    fn list_and_address_grammar() {
        assert_eq!(
            split_list(" \"a, b\" <sip:x@h>;p=\"1,2\" ,<sip:y,z@h>,sip:w@h ").unwrap(),
            ["\"a, b\" <sip:x@h>;p=\"1,2\"", "<sip:y,z@h>", "sip:w@h"]
        );
        assert_eq!(split_list("\"a\\\", b\" <sip:x@h>").unwrap().len(), 1);
        assert!(split_list("\"open <sip:x@h>, <sip:y@h>").is_err());
        assert!(split_list("<sip:x@h, sip:y@h").is_err());
        assert!(split_list("<sip:x@h>,,<sip:y@h>").is_err());

        let contact = Address::parse(
            "Alice  Smith <sip:alice@pc33.example.com;transport=tcp> ; +sip.instance=\"<urn:uuid:1;x>\" ;q=0.7;ob",
        )
        .unwrap();
        assert_eq!(contact.uri(), "sip:alice@pc33.example.com;transport=tcp");
        assert_eq!(contact.param("+SIP.Instance"), Some("\"<urn:uuid:1;x>\""));
        assert_eq!((contact.param("q"), contact.param("ob"), contact.param("expires")), (Some("0.7"), Some(""), None));
        assert_eq!(Address::parse("sip:alice@h;expires=60").unwrap().param("expires"), Some("60"));
        for bad in
            ["\"Alice\" sip:a@h", "<sip:a@h", "<sip:a@h> junk", "<sip:a@h>;=1", "<sip:a@h>;a=", "Al\"ice <sip:a@h>", ""]
        {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    /// The phrases the registrar's reason phrases are made of.
    #[test]
    fn refusals_name_the_problem() {
        let error = |value: &str| Address::parse(value).unwrap_err();
        assert_eq!(error("<sip:bob@127.0.0.1:5061> junk").to_string(), "unexpected text after the address");
        assert_eq!(error("sip:a@example.com, sip:b@example.com"), AddressError::TrailingText);
        assert_eq!(error("\"Alice\" sip:a@h"), AddressError::QuotedNameWithoutBrackets);
        assert_eq!(error("<sip:a@h"), AddressError::MissingClosingBracket);
        assert_eq!(error("< sip:a@h>"), AddressError::SpaceInBrackets);
        assert_eq!(error("Bell, A <sip:a@h>"), AddressError::BadDisplayName);
        assert_eq!(error("<sip:a@h>;=1"), AddressError::Param(ParamError::EmptyName));
        assert_eq!(error("  "), AddressError::MissingUri);
        assert_eq!(error("<>"), AddressError::MissingUri);
        assert_eq!(error("<sip:a@h:99999>"), AddressError::Uri(UriError::BadPort("99999".into())));
        // An addr-spec cannot carry URI headers (RFC 3261 §20.10).
        assert_eq!(error("sip:a@h?subject=x"), AddressError::Uri(UriError::HeadersNotAllowed));
        assert!(Address::parse("<sip:a@h?subject=x>").is_ok());
        assert_eq!(split_list("\"Bob <sip:bob@h>").unwrap_err().to_string(), "unterminated quoted string or <URI>");
        assert_eq!(split_list("<sip:bob@h>,").unwrap_err().to_string(), "empty list element");
        assert_eq!(split_list(" "), Err(ListError::EmptyElement));
    }

    #[test]
    fn display_names() {
        let name = |value: &str| Address::parse(value).unwrap().display_name().map(Cow::into_owned);
        assert_eq!(name(r#""J Rosenberg \\\"" <sip:j@h>"#).as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(name("Alice  Smith<sip:a@h>").as_deref(), Some("Alice  Smith"));
        assert_eq!(name("<sip:a@h>"), None);
        assert_eq!(name("\"\" <sip:a@h>"), None);
        assert_eq!(name("sip:a@h"), None);
        let address = Address::parse("sip:a@h;tag=1").unwrap();
        assert!(!address.is_name_addr());
        assert_eq!(address.params().iter().collect::<Vec<_>>(), [("tag", Some("1"))]);
    }

    /// From plugins/identity/src/address.rs; the tolerant reading of empty
    /// elements is gone (see GRAMMAR-NOTES.md).
    #[test]
    fn splits_lists() {
        assert_eq!(split_list("\"a, b\" <sip:a@x>, <tel:+1>").unwrap(), ["\"a, b\" <sip:a@x>", "<tel:+1>"]);
        assert_eq!(split_list(" , \"a\\\", b\" <sip:a@x>,,"), Err(ListError::EmptyElement));
        assert_eq!(split_list("<sip:a\"b@x>, <sip:c@d>").unwrap(), ["<sip:a\"b@x>", "<sip:c@d>"]);
        // From host/src/sip/uri.rs.
        assert_eq!(
            split_list("<sip:a@b;lr>, \"x, y\" <sip:c@d>,sip:e@f").unwrap(),
            ["<sip:a@b;lr>", "\"x, y\" <sip:c@d>", "sip:e@f"]
        );
    }
}
