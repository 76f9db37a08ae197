//! URIs as the location service compares them: the address-of-record a
//! binding is filed under, and the Contact URI that identifies a binding
//! when no `+sip.instance` does (RFC 3261 §10.3 steps 5 and 7, §19.1.4).

use std::net::Ipv6Addr;

use super::address;
use crate::sip;

/// A URI checked against the RFC 3261 grammar and cut into the parts that
/// identify it.
pub(super) enum Uri<'a> {
    Sip(SipUri<'a>),
    /// Any other scheme (`tel:`, `mailto:`…): valid, compared as text.
    Other {
        scheme: String,
        rest: &'a str,
    },
}

/// A `sip:` or `sips:` URI in canonical form: what RFC 3261 §19.1.4 compares
/// case-insensitively is lowercased, escapes of unreserved characters in the
/// user part are decoded, and a password is dropped.
pub(super) struct SipUri<'a> {
    secure: bool,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    /// `name[=value]` pairs separated by `;`, as sent.
    params: &'a str,
}

impl<'a> Uri<'a> {
    /// `None` if `text` is not a valid URI. URI headers (`?name=value`) are
    /// allowed and ignored: nothing compared here depends on them.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (scheme, rest) = text.split_once(':')?;
        let secure = scheme.eq_ignore_ascii_case("sips");
        if !secure && !scheme.eq_ignore_ascii_case("sip") {
            return sip::is_valid_request_uri(text).then(|| Uri::Other { scheme: scheme.to_ascii_lowercase(), rest });
        }
        // The user part may hold '?' and ';' but no '@' (RFC 3261 §19.1.1), so
        // the first '@' ends it, and URI headers start at the next '?'.
        let (userinfo, host_part) = match rest.split_once('@') {
            Some((userinfo, host_part)) => (Some(userinfo), host_part),
            None => (None, rest),
        };
        let (host_part, headers) = host_part.split_once('?').unwrap_or((host_part, ""));
        let without_headers = if headers.is_empty() { text } else { text.strip_suffix(headers)?.strip_suffix('?')? };
        if !sip::is_valid_request_uri(without_headers) {
            return None;
        }
        let (hostport, params) = host_part.split_once(';').unwrap_or((host_part, ""));
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            },
        };
        Some(Uri::Sip(SipUri {
            secure,
            user: userinfo.map(|userinfo| decode_unreserved(userinfo.split(':').next().unwrap_or(userinfo))),
            host: canonical_host(host),
            port: port.map(str::parse).transpose().ok()?,
            params,
        }))
    }

    /// What identifies a Contact URI in the location service: scheme, user,
    /// host, port and transport for SIP (a simplified RFC 3261 §19.1.4, which
    /// also compares `user`, `ttl`, `method` and `maddr`), the text otherwise.
    pub fn binding_key(&self) -> String {
        match self {
            Uri::Sip(uri) => {
                let mut key = uri.aor();
                if let Some(port) = uri.port {
                    key.push_str(&format!(":{port}"));
                }
                if let Some(transport) = uri.param("transport") {
                    key.push_str(&format!(";transport={}", transport.to_ascii_lowercase()));
                }
                key
            }
            Uri::Other { scheme, rest } => format!("{scheme}:{rest}"),
        }
    }
}

impl SipUri<'_> {
    /// The canonical address-of-record: `sip:user@host`, `sips:` kept.
    pub fn aor(&self) -> String {
        let scheme = if self.secure { "sips" } else { "sip" };
        match &self.user {
            Some(user) => format!("{scheme}:{user}@{}", self.host),
            None => format!("{scheme}:{}", self.host),
        }
    }

    /// The host, lowercased, as [`canonical_host`] writes it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The value of URI parameter `name` (case-insensitive); empty for a flag
    /// such as `lr` or `ob`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .split(';')
            .map(|param| param.split_once('=').unwrap_or((param, "")))
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

/// The canonical address-of-record of a URI or name-addr: `sip:user@host`
/// with the scheme and host lowercased (`sips:` stays `sips:`), the user part
/// case-sensitive but with escaped unreserved characters decoded, and port,
/// parameters, headers, password and display name dropped.
///
/// `None` for text that is not a valid URI and for schemes other than `sip`
/// and `sips`: a `tel:` URI names a number, not something one registers.
pub fn aor_of(uri_or_name_addr: &str) -> Option<String> {
    match Uri::parse(address::uri_of(uri_or_name_addr).ok()?)? {
        Uri::Sip(uri) => Some(uri.aor()),
        Uri::Other { .. } => None,
    }
}

/// A host in the form hosts are compared in: lowercased, without the final
/// dot of a fully qualified name, IPv6 addresses in brackets and in their
/// RFC 5952 text form (so `[2001:DB8:0::1]` and `2001:db8::1` are one host).
pub(super) fn canonical_host(host: &str) -> String {
    let unbracketed = host.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')).unwrap_or(host);
    match unbracketed.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase(),
    }
}

/// Decodes `%HH` escapes of unreserved characters, which RFC 3261 §19.1.4
/// compares equal to the characters themselves, and writes the others in
/// upper case, so one user part has one spelling.
fn decode_unreserved(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take(2).collect();
        match u8::from_str_radix(&hex, 16) {
            Ok(byte) if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) => out.push(char::from(byte)),
            _ => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
        }
    }
    out
}
