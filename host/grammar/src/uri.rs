//! URIs: the syntax check every URI of a message passes (RFC 3261 §25.1
//! `absoluteURI`, and the whole SIP-URI structure for `sip:` and `sips:`),
//! the one [`SipUri`] type, and the comparisons the host and the plugins make
//! on them (RFC 3261 §19.1.4, RFC 5954 §4).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::excerpt::excerpt;
use crate::tel::{TelError, TelUri};

/// The part of a URI a character or escape was refused in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriPart {
    /// The URI as a whole (the characters any URI may hold).
    Uri,
    /// The user part of a SIP URI.
    User,
    /// The password of a SIP URI.
    Password,
    /// The `;name=value` parameters of a SIP URI.
    Parameters,
    /// The `?name=value` headers of a SIP URI.
    Headers,
}

impl fmt::Display for UriPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriPart::Uri => "URI",
            UriPart::User => "user part",
            UriPart::Password => "password",
            UriPart::Parameters => "URI parameters",
            UriPart::Headers => "URI headers",
        })
    }
}

/// Why a URI was refused.
///
/// The `Display` text is a short English phrase, safe in a reason phrase:
/// the wire text a variant holds is shown through [`excerpt`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// No `:` ends a scheme.
    NoScheme,
    /// What precedes the first `:` is not a scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`).
    BadScheme(String),
    /// The scheme is all there is.
    NothingAfterScheme,
    /// A `%` not followed by two hex digits.
    BadEscape(UriPart),
    /// A character this part of a URI cannot hold unescaped.
    BadCharacter {
        /// The character, whole even when it is not ASCII.
        character: char,
        /// Where it was found.
        part: UriPart,
    },
    /// `sip:@host` or `sip::password@host`.
    EmptyUser,
    /// `?name=value` headers where RFC 3261 §19.1.1 forbids them (a
    /// Request-URI, an addr-spec outside `<>`).
    HeadersNotAllowed,
    /// `;;` or `;name=` in the parameters.
    EmptyParameter,
    /// A header without `=` or without a name.
    MalformedHeader,
    /// `[` without `]`.
    UnterminatedIpv6,
    /// What is between `[` and `]` is not an IPv6 address.
    BadIpv6(String),
    /// Something other than `:port` after `]`.
    JunkAfterIpv6,
    /// The port is not a number from 0 to 65535.
    BadPort(String),
    /// The host is neither a host name nor an IPv4 address.
    BadHost(String),
    /// A valid URI, but not a `sip:` or `sips:` one; holds the scheme, lower-cased.
    NotSip(String),
    /// A `tel:` URI that RFC 3966 does not allow.
    Tel(TelError),
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::NoScheme => f.write_str("no scheme"),
            UriError::BadScheme(scheme) => write!(f, "{} is not a URI scheme", excerpt(scheme)),
            UriError::NothingAfterScheme => f.write_str("nothing follows the scheme"),
            UriError::BadEscape(part) => write!(f, "bad % escape in the {part}"),
            UriError::BadCharacter { character, part } => {
                write!(f, "character {} is not allowed in the {part}", excerpt(&character.to_string()))
            }
            UriError::EmptyUser => f.write_str("empty user part"),
            UriError::HeadersNotAllowed => f.write_str("URI headers (?name=value) are not allowed here"),
            UriError::EmptyParameter => f.write_str("empty URI parameter"),
            UriError::MalformedHeader => f.write_str("malformed URI header"),
            UriError::UnterminatedIpv6 => f.write_str("unterminated IPv6 reference"),
            UriError::BadIpv6(address) => write!(f, "{} is not an IPv6 address", excerpt(address)),
            UriError::JunkAfterIpv6 => f.write_str("junk after the IPv6 reference"),
            UriError::BadPort(port) => write!(f, "{} is not a port number", excerpt(port)),
            UriError::BadHost(host) => write!(f, "{} is not a host name", excerpt(host)),
            UriError::NotSip(scheme) => write!(f, "{} URI is not a SIP URI", excerpt(scheme)),
            UriError::Tel(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for UriError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UriError::Tel(error) => Some(error),
            _ => None,
        }
    }
}

impl From<TelError> for UriError {
    fn from(error: TelError) -> Self {
        UriError::Tel(error)
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// Characters allowed, besides unreserved ones and escapes, in each URI part.
const RESERVED: &[u8] = b";/?:@&=+$,[]";
const USER: &[u8] = b"&=+$,;?/";
const PASSWORD: &[u8] = b"&=+$,";
const PARAM: &[u8] = b"[]/:&+$";
const HEADER: &[u8] = b"[]/?:+$";

/// Checks that `part` holds only unreserved characters, characters from
/// `extra` and well-formed `%HH` escapes.
///
/// Byte by byte: every allowed character is ASCII, and this runs on every
/// URI of every message (and on every Request-URI a plugin sets).
fn check_chars(part: &str, extra: &[u8], what: UriPart) -> Result<(), UriError> {
    let bytes = part.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if !bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return Err(UriError::BadEscape(what));
            }
            i += 3;
        } else if is_unreserved(b) || extra.contains(&b) {
            i += 1;
        } else {
            // Everything before `i` was ASCII, so `i` starts a character:
            // name it whole, even when it is not ASCII.
            let character = part.get(i..).and_then(|rest| rest.chars().next()).unwrap_or_default();
            return Err(UriError::BadCharacter { character, part: what });
        }
    }
    Ok(())
}

/// Checks a URI: any absolute URI (RFC 3261 §25.1 `absoluteURI`), and the
/// full SIP-URI structure for `sip:` and `sips:`. Headers (`?h=v`) are
/// refused where RFC 3261 §19.1.1 forbids them, as in a Request-URI
/// (`allow_headers: false`).
///
/// Other schemes, `tel:` included, are checked only as absolute URIs: a
/// malformed number in a Request-URI reaches the policies, which answer it
/// with a reason ([`crate::normalize_e164`]'s), rather than a bare 400.
pub fn check_uri(uri: &str, allow_headers: bool) -> Result<(), UriError> {
    let (scheme, rest) = uri.split_once(':').ok_or(UriError::NoScheme)?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(UriError::BadScheme(scheme.to_owned()));
    }
    if rest.is_empty() {
        return Err(UriError::NothingAfterScheme);
    }
    check_chars(rest, RESERVED, UriPart::Uri)?;
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        check_sip_uri(rest, allow_headers)
    } else {
        Ok(())
    }
}

/// `[ userinfo "@" ] hostport uri-parameters [ headers ]`, after the scheme.
/// Neither userinfo nor what follows the host may contain `@`, so the first
/// `@` is the userinfo delimiter even though the user part may contain `?`.
fn check_sip_uri(rest: &str, allow_headers: bool) -> Result<(), UriError> {
    let host_part = match rest.split_once('@') {
        Some((userinfo, host_part)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(UriError::EmptyUser);
            }
            check_chars(user, USER, UriPart::User)?;
            if let Some(password) = password {
                check_chars(password, PASSWORD, UriPart::Password)?;
            }
            host_part
        }
        None => rest,
    };
    let (host_part, headers) = match host_part.split_once('?') {
        Some(_) if !allow_headers => return Err(UriError::HeadersNotAllowed),
        Some((host_part, headers)) => (host_part, Some(headers)),
        None => (host_part, None),
    };
    let mut params = host_part.split(';');
    HostPort::parse(params.next().unwrap_or_default())?;
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (param, None),
        };
        if name.is_empty() || value.is_some_and(str::is_empty) {
            return Err(UriError::EmptyParameter);
        }
        check_chars(name, PARAM, UriPart::Parameters)?;
        check_chars(value.unwrap_or_default(), PARAM, UriPart::Parameters)?;
    }
    for header in headers.into_iter().flat_map(|h| h.split('&')) {
        match header.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                check_chars(name, HEADER, UriPart::Headers)?;
                check_chars(value, HEADER, UriPart::Headers)?;
            }
            _ => return Err(UriError::MalformedHeader),
        }
    }
    Ok(())
}

/// `host [ ":" port ]` (RFC 3261 §25.1 `hostport`, also a Via's `sent-by`):
/// a host name, an IPv4 address or a bracketed IPv6 reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort<'a> {
    host: &'a str,
    port: Option<u16>,
}

impl<'a> HostPort<'a> {
    /// Reads `text`, which must be a `hostport` and nothing else.
    pub fn parse(text: &'a str) -> Result<Self, UriError> {
        let (host, port) = if let Some(v6) = text.strip_prefix('[') {
            let (address, after) = v6.split_once(']').ok_or(UriError::UnterminatedIpv6)?;
            address.parse::<Ipv6Addr>().map_err(|_| UriError::BadIpv6(address.to_owned()))?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or(UriError::JunkAfterIpv6)?),
            };
            (text.get(..address.len() + 2).unwrap_or(text), port)
        } else {
            let (host, port) = match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            };
            check_hostname(host)?;
            (host, port)
        };
        let port = match port {
            Some(port) => match port.parse::<u16>() {
                Ok(number) if port.bytes().all(|b| b.is_ascii_digit()) => Some(number),
                _ => return Err(UriError::BadPort(port.to_owned())),
            },
            None => None,
        };
        Ok(HostPort { host, port })
    }

    /// The host as written: an IPv6 reference keeps its brackets.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port, if one is written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// A hostname or IPv4 address: dot-separated labels of letters, digits and
/// inner hyphens, with an optional final dot.
fn check_hostname(host: &str) -> Result<(), UriError> {
    let labels = host.strip_suffix('.').unwrap_or(host);
    let valid = !labels.is_empty()
        && labels.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid { Ok(()) } else { Err(UriError::BadHost(host.to_owned())) }
}

/// Byte offsets of a part of [`SipUri::text`].
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, text: &str) -> &str {
        text.get(self.start..self.end).unwrap_or_default()
    }
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1), checked against the grammar
/// when it was parsed, so every part it hands out is well formed.
///
/// It keeps the text it was read from, with the parts RFC 3261 §19.1.4
/// compares without regard to case (scheme, host, parameter names) in lower
/// case; everything else as written, escapes included. It borrows that text
/// unless lower-casing changed it. Comparisons go through the canonical
/// forms ([`SipUri::canonical_user`], [`SipUri::canonical_host`]): `%61lice`
/// and `alice` are one user, `EXAMPLE.com`, `example.com.` one host.
///
/// There is deliberately no `==`: two spellings that RFC 3261 calls
/// equivalent differ as text, and text equality is not what a security
/// check wants. Compare with [`SipUri::same_target`], [`SipUri::aor`] or
/// [`SipUri::binding_key`].
#[derive(Clone, Debug)]
pub struct SipUri<'a> {
    text: Cow<'a, str>,
    secure: bool,
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    port: Option<u16>,
    /// After the `;` that follows hostport, up to `?` or the end; empty
    /// when there are no parameters.
    params: Span,
    /// After `?`.
    headers: Option<Span>,
}

impl<'a> SipUri<'a> {
    /// Parses a bare URI (not a name-addr: see [`crate::Address`]). URI
    /// headers are allowed; check a Request-URI with [`check_uri`] first if
    /// they must be refused.
    pub fn parse(text: &'a str) -> Result<Self, UriError> {
        check_uri(text, true)?;
        let colon = text.find(':').ok_or(UriError::NoScheme)?;
        let scheme = text.get(..colon).unwrap_or_default();
        let secure = if scheme.eq_ignore_ascii_case("sips") {
            true
        } else if scheme.eq_ignore_ascii_case("sip") {
            false
        } else {
            return Err(UriError::NotSip(scheme.to_ascii_lowercase()));
        };
        let after_scheme = colon + 1;
        let rest = text.get(after_scheme..).unwrap_or_default();
        let (user, password, host_start) = match rest.find('@') {
            Some(at) => {
                let userinfo = Span { start: after_scheme, end: after_scheme + at };
                let (user, password) = match userinfo.of(text).find(':') {
                    Some(colon) => (
                        Span { start: userinfo.start, end: userinfo.start + colon },
                        Some(Span { start: userinfo.start + colon + 1, end: userinfo.end }),
                    ),
                    None => (userinfo, None),
                };
                (Some(user), password, userinfo.end + 1)
            }
            None => (None, None, after_scheme),
        };
        let host_part = text.get(host_start..).unwrap_or_default();
        let (host_part_end, headers) = match host_part.find('?') {
            Some(question) => (host_start + question, Some(Span { start: host_start + question + 1, end: text.len() })),
            None => (text.len(), None),
        };
        let before_headers = Span { start: host_start, end: host_part_end }.of(text);
        let (hostport_end, params) = match before_headers.find(';') {
            Some(semi) => (host_start + semi, Span { start: host_start + semi + 1, end: host_part_end }),
            None => (host_part_end, Span { start: host_part_end, end: host_part_end }),
        };
        let hostport = HostPort::parse(Span { start: host_start, end: hostport_end }.of(text))?;
        let host = Span { start: host_start, end: host_start + hostport.host().len() };

        // The parts compared without regard to case, lower-cased in place
        // (ASCII only, so every offset stays where it was), and only when
        // one of them has an upper-case letter: most URIs are borrowed.
        let scheme = Span { start: 0, end: colon };
        let has_upper = |span: Span| span.of(text).bytes().any(|b| b.is_ascii_uppercase());
        let text = if folded_spans(text, scheme, host, params).any(has_upper) {
            let mut owned = text.to_owned();
            for span in folded_spans(text, scheme, host, params) {
                if let Some(part) = owned.get_mut(span.start..span.end) {
                    part.make_ascii_lowercase();
                }
            }
            Cow::Owned(owned)
        } else {
            Cow::Borrowed(text)
        };
        Ok(SipUri { text, secure, user, password, host, port: hostport.port(), params, headers })
    }

    /// The URI with its own copy of the text, to keep beyond the text it was
    /// parsed from.
    pub fn into_owned(self) -> SipUri<'static> {
        SipUri { text: Cow::Owned(self.text.into_owned()), ..self }
    }

    /// The URI as text: as parsed, with scheme, host and parameter names in
    /// lower case.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `sips:`: every hop must be secured (RFC 3261 §26.2.2).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// `"sip"` or `"sips"`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "sips" } else { "sip" }
    }

    /// The user part as written, escapes included; `None` for a URI without
    /// userinfo. Compare users with [`SipUri::canonical_user`]; read the
    /// characters meant with [`unescape`].
    pub fn user(&self) -> Option<&str> {
        self.user.map(|span| span.of(&self.text))
    }

    /// The password as written, if the userinfo has one. It is credential
    /// material: never log it.
    pub fn password(&self) -> Option<&str> {
        self.password.map(|span| span.of(&self.text))
    }

    /// The host in lower case, as written otherwise: an IPv6 reference keeps
    /// its brackets, a final dot stays. Compare hosts with
    /// [`SipUri::canonical_host`].
    pub fn host(&self) -> &str {
        self.host.of(&self.text)
    }

    /// The port, if one is written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the default of the scheme when none is written: 5061
    /// for `sips:`, 5060 for `sip:` (RFC 3263 §4.2).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.secure { 5061 } else { 5060 })
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.host();
        host.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')).unwrap_or(host).parse().ok()
    }

    /// The URI parameters in order, names in lower case, values as written
    /// (`None` for a flag such as `lr`).
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let params = self.params.of(&self.text);
        params.split(';').filter(|_| !params.is_empty()).map(|param| match param.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (param, None),
        })
    }

    /// The value of the first URI parameter `name` (case-insensitive):
    /// `None` when absent, `Some("")` for a flag such as `lr`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.unwrap_or_default())
    }

    /// The URI headers (`?name=value&…`) in order, as written.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let headers = self.headers.map(|span| span.of(&self.text));
        headers.into_iter().flat_map(|h| h.split('&')).map(|header| header.split_once('=').unwrap_or((header, "")))
    }

    /// The user part in the form users are compared in (RFC 3261 §19.1.4:
    /// case-sensitive, and a character outside the reserved set equal to
    /// its `%HH` escape): escapes of unreserved characters decoded, every
    /// other escape in upper-case hex, so that one user has one spelling.
    pub fn canonical_user(&self) -> Option<Cow<'_, str>> {
        self.user().map(canonical_user)
    }

    /// The host in the form hosts are compared in ([`canonical_host`]).
    pub fn canonical_host(&self) -> String {
        canonical_host(self.host())
    }

    /// The canonical address-of-record the URI names: `sip:user@host`
    /// (`sips:` kept), canonical user and host, without password, port,
    /// parameters and headers. The key bindings are filed under.
    pub fn aor(&self) -> String {
        match self.canonical_user() {
            Some(user) => format!("{}:{user}@{}", self.scheme(), self.canonical_host()),
            None => format!("{}:{}", self.scheme(), self.canonical_host()),
        }
    }

    /// What identifies a Contact URI in a location service: the
    /// [`SipUri::aor`], the port when written and the transport in lower
    /// case. A simplified RFC 3261 §19.1.4, which also compares `user`,
    /// `ttl`, `method` and `maddr`.
    pub fn binding_key(&self) -> String {
        let mut key = self.aor();
        if let Some(port) = self.port {
            key.push_str(&format!(":{port}"));
        }
        if let Some(transport) = self.param("transport") {
            key.push_str(&format!(";transport={}", transport.to_ascii_lowercase()));
        }
        key
    }

    /// Whether two URIs name the same target: scheme, canonical user,
    /// canonical host and port, the default port counting as written
    /// (clients write `sip:host:5060` for `sip:host`). What Digest
    /// credentials' `uri` is checked against the Request-URI with.
    pub fn same_target(&self, other: &SipUri<'_>) -> bool {
        self.secure == other.secure
            && self.canonical_user() == other.canonical_user()
            && self.canonical_host() == other.canonical_host()
            && self.port_or_default() == other.port_or_default()
    }
}

/// The spans of a SIP URI that RFC 3261 §19.1.4 compares without regard
/// to case: the scheme, the host and each parameter name.
fn folded_spans(text: &str, scheme: Span, host: Span, params: Span) -> impl Iterator<Item = Span> + '_ {
    let mut at = params.start;
    let names = params.of(text).split(';').map(move |param| {
        let name = Span { start: at, end: at + param.find('=').unwrap_or(param.len()) };
        at += param.len() + 1;
        name
    });
    [scheme, host].into_iter().chain(names)
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A user part in the form RFC 3261 §19.1.4 compares: escapes of unreserved
/// characters decoded, the others kept with upper-case hex. `user` must
/// have passed [`check_uri`] (every `%` starts a well-formed escape).
fn canonical_user(user: &str) -> Cow<'_, str> {
    if !user.contains('%') {
        return Cow::Borrowed(user);
    }
    let bytes = user.as_bytes();
    let mut out = String::with_capacity(user.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%').then(|| bytes.get(i + 1..i + 3).and_then(hex_byte)).flatten();
        match escaped {
            Some(byte) if is_unreserved(byte) => out.push(char::from(byte)),
            Some(byte) => out.push_str(&format!("%{byte:02X}")),
            None => {
                // Not an escape: copy the whole character.
                let c = user.get(i..).and_then(|rest| rest.chars().next()).unwrap_or_default();
                out.push(c);
                i += c.len_utf8();
                continue;
            }
        }
        i += 3;
    }
    Cow::Owned(out)
}

fn hex_byte(hex: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match hex {
        [high, low] => Some((digit(*high)? * 16 + digit(*low)?) as u8),
        _ => None,
    }
}

/// A host in the form hosts are compared in: lower case, without the final
/// dot of a fully qualified name, IPv6 addresses in brackets and in their
/// RFC 5952 text form (RFC 5954 §4: `[2001:DB8:0::1]` and `[2001:db8::1]`
/// are one host).
pub fn canonical_host(host: &str) -> String {
    let unbracketed = host.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')).unwrap_or(host);
    match unbracketed.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase(),
    }
}

/// A URI part (a SIP user part, a parameter value) with its `%HH` escapes
/// decoded: `%61lice` is `alice`, `%2B1%20555` is `+1 555`. What the part
/// means, for reading a telephone number or comparing with a user name; to
/// compare two URIs, use their canonical forms instead, which keep reserved
/// characters escaped. `None` when an escape is broken or the result is not
/// UTF-8. Borrows when there is nothing to decode.
pub fn unescape(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            out.push(bytes.get(i + 1..i + 3).and_then(hex_byte)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Any URI, read as the kind it is: what a Contact may hold.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966).
    Tel(TelUri<'a>),
    /// Any other scheme (`mailto:`, `urn:`…): a valid absolute URI,
    /// compared as text.
    Other {
        /// The scheme as written.
        scheme: &'a str,
        /// What follows the scheme's `:`.
        rest: &'a str,
    },
}

impl<'a> Uri<'a> {
    /// Parses any absolute URI; URI headers are allowed in a SIP URI.
    pub fn parse(text: &'a str) -> Result<Self, UriError> {
        let (scheme, rest) = text.split_once(':').ok_or(UriError::NoScheme)?;
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse(text).map(Uri::Sip);
        }
        check_uri(text, true)?;
        if scheme.eq_ignore_ascii_case("tel") {
            Ok(Uri::Tel(TelUri::parse(text)?))
        } else {
            Ok(Uri::Other { scheme, rest })
        }
    }

    /// What identifies the URI as a Contact: [`SipUri::binding_key`] for SIP,
    /// the text with its scheme in lower case otherwise.
    pub fn binding_key(&self) -> String {
        match self {
            Uri::Sip(uri) => uri.binding_key(),
            Uri::Tel(uri) => format!("tel:{}", uri.subscriber()),
            Uri::Other { scheme, rest } => format!("{}:{rest}", scheme.to_ascii_lowercase()),
        }
    }
}

/// The URI of a Request-URI or of a name-addr (`"Bob" <sip:bob@example.com>;tag=1`),
/// as text. Text without `<` is read as a bare URI, whose `;` parameters are
/// the URI's own (a user part such as `alice;day=tuesday`); read an
/// addr-spec header value with [`crate::Address`] instead. `None` for a
/// name-addr that does not read as one; the URI itself is not checked here.
pub fn target_uri(uri_or_name_addr: &str) -> Option<&str> {
    let text = crate::token::trim_ws(uri_or_name_addr);
    if crate::address::find_unquoted(text, '<').is_some() {
        crate::Address::parse(text).ok().map(|address| address.uri())
    } else {
        Some(text)
    }
}

/// The canonical address-of-record ([`SipUri::aor`]) of a Request-URI or of
/// a name-addr, read as [`target_uri`] reads it.
///
/// `None` for text that is not a valid URI or name-addr, and for schemes
/// other than `sip` and `sips`: a `tel:` URI names a number, not something
/// one registers.
pub fn aor_of(uri_or_name_addr: &str) -> Option<String> {
    SipUri::parse(target_uri(uri_or_name_addr)?).ok().map(|uri| uri.aor())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From host/src/sip/syntax.rs.
    #[test]
    fn request_uris() {
        for good in [
            "sip:user@example.com",
            "sips:[2001:db8::10]:5061;transport=tls",
            "sip:user;par=u%40example.net@example.com",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "soap.beep://192.0.2.103:3002",
            "tel:+1-972-555-2222",
        ] {
            assert_eq!(check_uri(good, false), Ok(()), "{good}");
        }
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            "sip:user@exa mple.com",
            "sip:@example.com",
            "sip:user@example.com:99999",
            "sip:user@example.com;;lr",
            "sip:user@[::1",
            "sip:%zz@example.com",
            "sip:",
            "1sip:x",
        ] {
            assert!(check_uri(bad, false).is_err(), "{bad}");
        }
        assert_eq!(check_uri("sip:user@example.com?Route=%3Csip:example.com%3E", true), Ok(()));
        // The refusal names the character, whole, and the part it is in.
        assert_eq!(
            check_uri("sip:j%C3%A9r\u{f4}me@example.com", false).map_err(|e| e.to_string()),
            Err("character \"\u{f4}\" is not allowed in the URI".to_string())
        );
        assert_eq!(
            check_uri("sip:alice%4@example.com", false).map_err(|e| e.to_string()),
            Err("bad % escape in the URI".to_string())
        );
        assert_eq!(
            check_uri("sip:alice@example.com;x=%4", false).map_err(|e| e.to_string()),
            Err("bad % escape in the URI".to_string())
        );
    }

    #[test]
    fn refusals_are_typed() {
        assert_eq!(check_uri("sip:a@b:99999", false), Err(UriError::BadPort("99999".into())));
        assert_eq!(check_uri("sip:a@[::1]x", false), Err(UriError::JunkAfterIpv6));
        assert_eq!(check_uri("sip:a@[::g]", false), Err(UriError::BadIpv6("::g".into())));
        assert_eq!(check_uri("sip:a@b?x", true), Err(UriError::MalformedHeader));
        assert_eq!(check_uri("sip:a@-b", false), Err(UriError::BadHost("-b".into())));
        assert_eq!(check_uri("sip:a@b;x=", false), Err(UriError::EmptyParameter));
        assert_eq!(check_uri("sip::pw@b", false), Err(UriError::EmptyUser));
        assert_eq!(
            check_uri("sip:a:p\"w@b", false),
            Err(UriError::BadCharacter { character: '"', part: UriPart::Uri })
        );
        assert_eq!(
            check_uri("sip:a:p;w@b", false),
            Err(UriError::BadCharacter { character: ';', part: UriPart::Password })
        );
        assert_eq!(check_uri("sip:a@b;x=?", true), Err(UriError::EmptyParameter));
        assert_eq!(check_uri("sip:a@b;x?h=[", true), Ok(()));
        assert_eq!(
            check_uri("sip:a@b;x=@", true),
            Err(UriError::BadCharacter { character: '@', part: UriPart::Parameters })
        );
        assert_eq!(SipUri::parse("tel:+1").map(|_| ()), Err(UriError::NotSip("tel".into())));
        assert_eq!(UriError::NotSip("tel".into()).to_string(), "\"tel\" URI is not a SIP URI");
    }

    /// From host/src/sip/uri.rs.
    #[test]
    fn parses_routing_parts() {
        let u = SipUri::parse("sip:alice@Example.COM:5070;transport=TCP;lr").unwrap();
        assert_eq!((u.user(), u.host(), u.port()), (Some("alice"), "example.com", Some(5070)));
        assert_eq!((u.param("transport"), u.param("lr"), u.param("maddr")), (Some("TCP"), Some(""), None));
        assert_eq!(u.to_string(), "sip:alice@example.com:5070;transport=TCP;lr");
        let u = SipUri::parse("sips:[2001:db8::1]:5061").unwrap();
        assert!(u.is_secure());
        assert_eq!(u.ip(), Some("2001:db8::1".parse().unwrap()));
        let u = SipUri::parse("sip:j.user@example.com").unwrap();
        assert_eq!(u.host(), "example.com");
        assert!(SipUri::parse("tel:+15551234567").is_err());
        assert!(SipUri::parse("sip:a@b:99999").is_err());
    }

    #[test]
    fn every_part() {
        let u = SipUri::parse("SIPS:Bob%2C:se%63ret@[2001:DB8::1]:5061;Transport=TLS;LR?Subject=Hi&X=%20").unwrap();
        assert_eq!(u.as_str(), "sips:Bob%2C:se%63ret@[2001:db8::1]:5061;transport=TLS;lr?Subject=Hi&X=%20");
        assert_eq!((u.scheme(), u.user(), u.password()), ("sips", Some("Bob%2C"), Some("se%63ret")));
        assert_eq!((u.host(), u.port(), u.port_or_default()), ("[2001:db8::1]", Some(5061), 5061));
        assert_eq!(u.params().collect::<Vec<_>>(), [("transport", Some("TLS")), ("lr", None)]);
        assert_eq!(u.param("TRANSPORT"), Some("TLS"));
        assert_eq!(u.headers().collect::<Vec<_>>(), [("Subject", "Hi"), ("X", "%20")]);
        assert_eq!(u.canonical_user().as_deref(), Some("Bob%2C"));
        assert_eq!(u.canonical_host(), "[2001:db8::1]");
        assert_eq!(u.binding_key(), "sips:Bob%2C@[2001:db8::1]:5061;transport=tls");
        let plain = SipUri::parse("sip:example.com").unwrap();
        assert_eq!((plain.user(), plain.params().count(), plain.headers().count()), (None, 0, 0));
        assert!(matches!(plain.text, Cow::Borrowed(_)), "nothing to lower-case, nothing copied");
        assert_eq!(plain.port_or_default(), 5060);
        assert_eq!(plain.into_owned().as_str(), "sip:example.com");
        // The user part may hold `?` and `;`: the first `@` ends it.
        let odd = SipUri::parse("sip:a?b;c@h;p?h=v").unwrap();
        assert_eq!((odd.user(), odd.host(), odd.param("p"), odd.headers().count()), (Some("a?b;c"), "h", Some(""), 1));
    }

    #[test]
    fn escapes_and_case_compare_as_rfc_3261_says() {
        let alice = SipUri::parse("sip:alice@atlanta.com").unwrap();
        for same in [
            "sip:%61lice@atlanta.com",
            "SIP:%61lice@ATLANTA.com",
            "sip:alice@atlanta.com.",
            "sip:alice@atlanta.com:5060",
            "sip:alice:pw@atlanta.com;transport=tcp",
        ] {
            assert!(alice.same_target(&SipUri::parse(same).unwrap()), "{same}");
        }
        for other in
            ["sip:Alice@atlanta.com", "sips:alice@atlanta.com", "sip:alice@atlanta.com:5070", "sip:atlanta.com"]
        {
            assert!(!alice.same_target(&SipUri::parse(other).unwrap()), "{other}");
        }
        // A reserved character is not its escape.
        let plus = SipUri::parse("sip:+1@h").unwrap();
        assert!(!plus.same_target(&SipUri::parse("sip:%2B1@h").unwrap()));
        assert_eq!(SipUri::parse("sip:%2b1@h").unwrap().canonical_user().as_deref(), Some("%2B1"));
        assert_eq!(SipUri::parse("sip:%c3%a9@h").unwrap().canonical_user().as_deref(), Some("%C3%A9"));
    }

    #[test]
    fn unescaping() {
        // From plugins/sdk/src/address.rs.
        assert_eq!(unescape("%61lice").as_deref(), Some("alice"));
        assert!(matches!(unescape("alice"), Some(Cow::Borrowed("alice"))));
        assert_eq!(unescape("%2B1%20555").as_deref(), Some("+1 555"));
        for broken in ["a%2", "a%+1", "a%zz", "%ff", "%"] {
            assert_eq!(unescape(broken), None, "{broken}");
        }
    }

    /// From host/src/registrar/tests.rs.
    #[test]
    fn aor_canonical_form() {
        for (input, aor) in [
            ("sip:alice@example.com", Some("sip:alice@example.com")),
            ("SIP:alice@EXAMPLE.COM:5060;transport=tcp", Some("sip:alice@example.com")),
            (
                "\"Alice, A.\" <sip:Alice@Example.COM:5070;transport=TLS?Subject=hi>;tag=88sja8x",
                Some("sip:Alice@example.com"),
            ),
            ("Alice <sips:alice@example.com>", Some("sips:alice@example.com")),
            ("<SIPS:alice@example.com:5061>", Some("sips:alice@example.com")),
            ("sip:alice:secret@example.com", Some("sip:alice@example.com")),
            ("sip:%61lice@atlanta.com;transport=TCP", Some("sip:alice@atlanta.com")),
            ("sip:alice%2fbob@example.com", Some("sip:alice%2Fbob@example.com")),
            ("sip:alice;day=tuesday@example.com", Some("sip:alice;day=tuesday@example.com")),
            ("sip:+15551234567@example.com;user=phone", Some("sip:+15551234567@example.com")),
            ("sip:example.com", Some("sip:example.com")),
            ("sip:bob@[2001:DB8:0::1]:5060", Some("sip:bob@[2001:db8::1]")),
            ("sip:bob@example.com.", Some("sip:bob@example.com")),
            ("tel:+15551234567", None),
            ("<tel:+15551234567>;tag=x", None),
            ("sip:", None),
            ("sip:alice@exa mple.com", None),
            ("sip:alice@example.com:99999", None),
            ("\"unterminated <sip:a@b>", None),
            ("not a uri", None),
        ] {
            assert_eq!(aor_of(input).as_deref(), aor, "{input}");
        }
    }

    #[test]
    fn binding_keys() {
        let key = |text: &str| Uri::parse(text).map(|uri| uri.binding_key());
        assert_eq!(key("sip:%62ob@127.0.0.1:5061"), key("sip:bob@127.0.0.1:5061"));
        assert_ne!(key("sip:bob@127.0.0.1:5061"), key("sip:bob@127.0.0.1:5061;transport=tcp"));
        assert_eq!(key("sip:bob@h;transport=TCP").unwrap(), "sip:bob@h;transport=tcp");
        assert_eq!(key("MAILTO:bob@example.com").unwrap(), "mailto:bob@example.com");
        assert_eq!(key("tel:+1-555-123-4567").unwrap(), "tel:+15551234567");
        assert!(key("sip:bob@h:99999").is_err());
        assert!(matches!(Uri::parse("tel:alice"), Err(UriError::Tel(_))));
    }

    #[test]
    fn canonical_hosts() {
        assert_eq!(canonical_host("EXAMPLE.com."), "example.com");
        assert_eq!(canonical_host("2001:DB8:0::1"), "[2001:db8::1]");
        assert_eq!(canonical_host("[2001:DB8:0::1]"), "[2001:db8::1]");
        assert_eq!(canonical_host("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn host_ports() {
        let hp = HostPort::parse("[::1]:5060").unwrap();
        assert_eq!((hp.host(), hp.port()), ("[::1]", Some(5060)));
        assert_eq!(HostPort::parse("Example.com").map(|hp| (hp.host(), hp.port())), Ok(("Example.com", None)));
        for bad in ["", "host:", "host:port", "host:+1", "[::1", "a..b", "a_b", "[::1]5060"] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }
}
