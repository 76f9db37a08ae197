//! SIP and SIPS URIs, taken apart for routing (RFC 3261 §19.1).
//!
//! Only what a proxy routes on is parsed out: scheme, user, host, port and
//! URI parameters. Everything else of the URI stays in the text the message
//! carries, untouched.

use std::fmt;
use std::net::IpAddr;

use super::error::ParseError;
use super::syntax::check_uri;

/// A parsed `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:`: every hop must be secured (RFC 3261 §26.2.2).
    pub secure: bool,
    pub user: Option<String>,
    /// Lowercased; an IPv6 reference keeps its brackets.
    pub host: String,
    pub port: Option<u16>,
    /// URI parameters in order, names lowercased.
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parse a bare URI (not a name-addr).
    pub fn parse(uri: &str) -> Result<SipUri, ParseError> {
        check_uri(uri, true).map_err(|e| ParseError::BadRequestUri(format!("{}: {e}", super::error::excerpt(uri))))?;
        let (scheme, rest) = uri.split_once(':').ok_or_else(|| ParseError::BadRequestUri("no scheme".into()))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "sip" => false,
            "sips" => true,
            other => return Err(ParseError::BadRequestUri(format!("{other}: URI is not a SIP URI"))),
        };
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        let (user, hostpart) = match rest.rsplit_once('@') {
            Some((userinfo, hostpart)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
                (Some(user.to_string()), hostpart)
            }
            None => (None, rest),
        };
        let mut parts = hostpart.split(';');
        let hostport = parts.next().unwrap_or_default();
        let (host, port) = split_hostport(hostport)?;
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((name, value)) => (name.to_ascii_lowercase(), Some(value.to_string())),
                None => (p.to_ascii_lowercase(), None),
            })
            .collect();
        Ok(SipUri { secure, user, host: host.to_ascii_lowercase(), port, params })
    }

    /// The value of a URI parameter (`None` for an absent one; `Some("")`
    /// for a flag such as `lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.trim_start_matches('[').trim_end_matches(']').parse().ok()
    }
}

fn split_hostport(hostport: &str) -> Result<(&str, Option<u16>), ParseError> {
    let bad = || ParseError::BadRequestUri(format!("{}: bad host or port", super::error::excerpt(hostport)));
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']').ok_or_else(bad)?;
        let (host, rest) = hostport.split_at(end + 1);
        (host, rest.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = port.map(|p| p.parse::<u16>().map_err(|_| bad())).transpose()?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

/// The URI inside a name-addr or addr-spec header value (From, To, Contact,
/// Route, Record-Route, P-Asserted-Identity): `"Alice" <sip:a@b>;tag=1`
/// gives `sip:a@b`.
pub fn uri_of(value: &str) -> Option<&str> {
    let value = value.trim();
    // A quoted display name may contain '<'; skip it first.
    let after_display = if let Some(quoted) = value.strip_prefix('"') {
        let mut escaped = false;
        let end = quoted.char_indices().find(|&(_, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        })?;
        &quoted[end.0 + 1..]
    } else {
        value
    };
    if let Some(start) = after_display.find('<') {
        let inner = &after_display[start + 1..];
        return inner.find('>').map(|end| inner[..end].trim());
    }
    // addr-spec: the URI ends at the first ';' (header parameters follow).
    let uri = after_display.split(';').next()?.trim();
    (!uri.is_empty()).then_some(uri)
}

/// Split a header value that may hold several comma-separated entries
/// (Route, Record-Route, Contact, Via), keeping commas inside quotes and
/// angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routing_parts() {
        let u = SipUri::parse("sip:alice@Example.COM:5070;transport=TCP;lr").unwrap();
        assert_eq!((u.user.as_deref(), u.host.as_str(), u.port), (Some("alice"), "example.com", Some(5070)));
        assert_eq!((u.param("transport"), u.param("lr"), u.param("maddr")), (Some("TCP"), Some(""), None));
        assert_eq!(u.to_string(), "sip:alice@example.com:5070;transport=TCP;lr");
        let u = SipUri::parse("sips:[2001:db8::1]:5061").unwrap();
        assert!(u.secure);
        assert_eq!(u.ip(), Some("2001:db8::1".parse().unwrap()));
        let u = SipUri::parse("sip:j.user@example.com").unwrap();
        assert_eq!(u.host, "example.com");
        assert!(SipUri::parse("tel:+15551234567").is_err());
        assert!(SipUri::parse("sip:a@b:99999").is_err());
    }

    #[test]
    fn finds_uris_in_addresses() {
        assert_eq!(uri_of("\"A <x>\" <sip:a@b;lr>;tag=1"), Some("sip:a@b;lr"));
        assert_eq!(uri_of("sip:a@b;tag=1"), Some("sip:a@b"));
        assert_eq!(uri_of("<sip:p1.example.com;lr>"), Some("sip:p1.example.com;lr"));
        assert_eq!(uri_of("\"unterminated <sip:a@b>"), None);
    }

    #[test]
    fn splits_lists() {
        assert_eq!(
            split_list("<sip:a@b;lr>, \"x, y\" <sip:c@d>,sip:e@f"),
            vec!["<sip:a@b;lr>", "\"x, y\" <sip:c@d>", "sip:e@f"]
        );
    }
}
