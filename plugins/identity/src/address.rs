//! Just enough of the SIP address grammar (RFC 3261 §20.10, §25.1; RFC 3966
//! for `tel:`) to compare who a request claims to be with who was confirmed.
//!
//! Everything here reads text a request controls: no function panics, and
//! anything that does not parse is `None`, which the policy treats as "does
//! not match".
//!
//! An address borrows from the header value it was read from, and copies
//! only what normalizing changes (an escape, an uppercase host, a visual
//! separator in a number).

use std::borrow::Cow;

use sipwarden_sdk::address;

/// The part of a URI that names a user, for comparing identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address<'a> {
    /// A `sip:` or `sips:` URI: the user part with escapes decoded (it is
    /// case-sensitive, RFC 3261 §19.1.4) and the host in lowercase, without
    /// port or parameters.
    Sip { user: Cow<'a, str>, host: Cow<'a, str> },
    /// A `tel:` URI: the number without visual separators.
    Tel(Cow<'a, str>),
}

impl<'a> Address<'a> {
    /// Parses the URI of a `From`, `To` or `P-Asserted-Identity` value, in
    /// name-addr (`"Alice" <sip:alice@example.com>;tag=1`) or addr-spec
    /// (`sip:alice@example.com;tag=1`) form. A SIP URI without a user part
    /// names no user and is `None`.
    pub(crate) fn parse(field: &'a str) -> Option<Address<'a>> {
        let uri = uri_of(field)?;
        let (scheme, rest) = uri.split_once(':')?;
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            sip_address(rest)
        } else if scheme.eq_ignore_ascii_case("tel") {
            tel_address(rest)
        } else {
            None
        }
    }

    /// `sip:anonymous@anonymous.invalid`, the From of a user who asked for
    /// privacy (RFC 3323 §4.1.1.3).
    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Address::Sip { user, host }
            if user.eq_ignore_ascii_case("anonymous") && host == "anonymous.invalid")
    }
}

/// The URI inside a name-addr, or the addr-spec itself.
fn uri_of(field: &str) -> Option<&str> {
    let field = field.trim();
    match find_unquoted(field, b'<') {
        Some(open) => {
            let inner = &field[open + 1..];
            let close = inner.find('>')?;
            Some(inner[..close].trim())
        }
        // In an addr-spec, `;` starts the header's parameters (RFC 3261 §20).
        None => field.split([';', ' ', '\t']).next().filter(|uri| !uri.is_empty()),
    }
}

/// The byte index of the first `target` outside a quoted string.
fn find_unquoted(text: &str, target: u8) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (index, &c) in text.as_bytes().iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if !quoted && c == target {
            return Some(index);
        }
    }
    None
}

/// The user and host of what follows `sip:`.
fn sip_address(rest: &str) -> Option<Address<'_>> {
    // `@` cannot appear unescaped in the user part, and parameters or headers
    // follow the host, so the first `@` before any `;` or `?` ends userinfo.
    let end = rest.bytes().position(|b| b == b';' || b == b'?').unwrap_or(rest.len());
    let (userinfo, hostport) = rest[..end].split_once('@')?;
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
    if user.is_empty() {
        return None;
    }
    Some(Address::Sip { user: address::unescape(user)?, host: host_of(hostport)? })
}

/// The host of `host[:port]`, lowercase; IPv6 references keep their brackets.
fn host_of(hostport: &str) -> Option<Cow<'_, str>> {
    let host = match hostport.strip_prefix('[') {
        Some(v6) => &hostport[..v6.find(']')? + 2],
        None => hostport.split_once(':').map_or(hostport, |(host, _port)| host),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) { host.to_ascii_lowercase().into() } else { host.into() })
}

/// The number of what follows `tel:`.
fn tel_address(rest: &str) -> Option<Address<'_>> {
    let number = rest.split(';').next().unwrap_or_default();
    let separator = |c: char| matches!(c, '-' | '.' | '(' | ')');
    let number: Cow<str> =
        if number.contains(separator) { number.chars().filter(|&c| !separator(c)).collect() } else { number.into() };
    if number.is_empty() { None } else { Some(Address::Tel(number)) }
}

/// A username as the user part of a SIP URI: characters outside
/// `unreserved` and `user-unreserved` (RFC 3261 §25.1) are escaped, and so
/// are `;` and `?`, which that grammar allows but which [`Address::parse`]
/// (like many parsers) reads as the end of the user part.
pub(crate) fn escape_user(username: &str) -> String {
    let mut out = String::with_capacity(username.len());
    for byte in username.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The values of a header whose grammar is a comma-separated list of
/// name-addrs (`P-Asserted-Identity`), split where a comma is outside quotes
/// and angle brackets.
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        loop {
            let text = rest?;
            let (part, after) = match list_separator(text) {
                Some(comma) => (&text[..comma], Some(&text[comma + 1..])),
                None => (text, None),
            };
            rest = after;
            let part = part.trim();
            if !part.is_empty() {
                return Some(part);
            }
        }
    })
}

/// The byte index of the first comma outside quotes and angle brackets.
fn list_separator(text: &str) -> Option<usize> {
    // Most values are a single name-addr.
    text.find(',')?;
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    for (index, &c) in text.as_bytes().iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            b'\\' if quoted => escaped = true,
            b'"' if !angle => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => return Some(index),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip<'a>(user: &'a str, host: &'a str) -> Option<Address<'a>> {
        Some(Address::Sip { user: user.into(), host: host.into() })
    }

    #[test]
    fn parses_name_addr_and_addr_spec() {
        assert_eq!(Address::parse("\"Alice\" <sip:alice@Example.COM>;tag=1"), sip("alice", "example.com"));
        assert_eq!(
            Address::parse("\"A <b>, c\" <sips:alice:pw@example.com:5061;transport=tls>"),
            sip("alice", "example.com")
        );
        assert_eq!(Address::parse("sip:alice@example.com;tag=1"), sip("alice", "example.com"));
        assert_eq!(Address::parse("<sip:%61lice@[2001:DB8::1]:5060>"), sip("alice", "[2001:db8::1]"));
        assert_eq!(Address::parse("<tel:+1-555-123-4567;phone-context=x>"), Some(Address::Tel("+15551234567".into())));
        for bad in [
            "",
            "<sip:example.com>",
            "<sip:@example.com>",
            "<sip:alice@>",
            "<mailto:a@b>",
            "<sip:a%2@b>",
            "<sip:a%+1@b>",
            "<sip:a@b",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
        assert!(
            Address::parse("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1").is_some_and(|a| a.is_anonymous())
        );
    }

    #[test]
    fn splits_lists_and_escapes_users() {
        assert_eq!(split_list("\"a, b\" <sip:a@x>, <tel:+1>").collect::<Vec<_>>(), ["\"a, b\" <sip:a@x>", "<tel:+1>"]);
        assert_eq!(split_list(" , \"a\\\", b\" <sip:a@x>,,").collect::<Vec<_>>(), ["\"a\\\", b\" <sip:a@x>"]);
        assert_eq!(escape_user("a b@c+1;x?"), "a%20b%40c+1%3Bx%3F");
    }
}
