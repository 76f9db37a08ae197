//! The top Via of a message: reading it, stamping it on arrival (RFC 3261
//! §18.2.1, RFC 3581), and the branch parameters this proxy writes.

use std::net::{IpAddr, SocketAddr};

use sha2::{Digest, Sha256};

use crate::sip::{self, split_list};
use crate::transport::{Origin, Transport};

/// RFC 3261 §8.1.1.7: branches that start with this are globally unique.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Every branch this proxy writes starts with this, so a response whose top
/// Via is ours is recognised at a glance.
const OUR_PREFIX: &str = "z9hG4bKsw";

/// The parts of one via-parm a proxy works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaParm {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl ViaParm {
    /// Parse `SIP/2.0/UDP host:port;params` (white space around `/` and `:`
    /// allowed, as RFC 3261 §25.1 does).
    pub fn parse(text: &str) -> Option<ViaParm> {
        let (protocol, rest) = split_protocol(text)?;
        let mut parts = rest.split(';');
        let sent_by = parts.next()?.trim();
        let (host, port) = if let Some(v6) = sent_by.strip_prefix('[') {
            let (host, rest) = v6.split_once(']')?;
            (format!("[{host}]"), rest.trim().strip_prefix(':').and_then(|p| p.trim().parse().ok()))
        } else {
            match sent_by.split_once(':') {
                Some((host, port)) => (host.trim().to_string(), Some(port.trim().parse().ok()?)),
                None => (sent_by.to_string(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
                None => (p.trim().to_ascii_lowercase(), None),
            })
            .collect();
        Some(ViaParm { transport: protocol, host, port, params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// `host:port` as sent, for transaction matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    fn set_param(&mut self, name: &str, value: String) {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = Some(value),
            None => self.params.push((name.to_string(), Some(value))),
        }
    }

    /// Where a response to this hop goes (RFC 3261 §18.2.2, RFC 3581 §4):
    /// the `received` address if any, at the `rport` port if any, else the
    /// sent-by port.
    pub fn response_addr(&self) -> Option<SocketAddr> {
        let host = self.param("received").unwrap_or(&self.host);
        let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
        let default = if self.transport.eq_ignore_ascii_case("TLS") { 5061 } else { 5060 };
        let port = self.param("rport").and_then(|p| p.parse().ok()).or(self.port).unwrap_or(default);
        Some(SocketAddr::new(ip, port))
    }

    pub fn transport(&self) -> Option<Transport> {
        self.transport.parse().ok()
    }
}

impl std::fmt::Display for ViaParm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        for (name, value) in &self.params {
            match value {
                Some(v) => write!(f, ";{name}={v}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

fn split_protocol(text: &str) -> Option<(String, &str)> {
    let mut rest = text.trim();
    let mut transport = "";
    for i in 0..3 {
        if i > 0 {
            rest = rest.trim_start().strip_prefix('/')?.trim_start();
        }
        let end = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
        transport = &rest[..end];
        rest = &rest[end..];
    }
    Some((transport.to_ascii_uppercase(), rest.trim_start()))
}

/// The via-parms of one Via value. The parser checked every Via of the
/// message, so the value splits; one that did not would stay whole.
fn entries_of(value: &str) -> Vec<&str> {
    split_list(value).unwrap_or_else(|_| vec![value])
}

/// The top via-parm of a message's headers.
pub fn top(headers: &sip::Headers) -> Option<ViaParm> {
    let first = headers.get("Via")?;
    ViaParm::parse(split_list(first).ok()?.first()?)
}

/// Replace the top via-parm (the first entry of the first Via header).
fn replace_top(headers: &mut sip::Headers, via: &ViaParm) {
    let Some(first) = headers.get("Via") else { return };
    // Via values were checked when the message was parsed: they split.
    let mut entries: Vec<String> = entries_of(first).into_iter().map(str::to_string).collect();
    if let Some(top) = entries.first_mut() {
        *top = via.to_string();
    }
    rewrite_vias(headers, entries.join(", "));
}

/// Put `first` in place of the first Via header, keeping the others.
fn rewrite_vias(headers: &mut sip::Headers, first: String) {
    let mut values: Vec<String> = headers.get_all("Via").skip(1).map(str::to_string).collect();
    if !first.is_empty() {
        values.insert(0, first);
    }
    headers.remove("Via");
    // Vias go back on top, in order: values that were already in the
    // message, or built from its entries and an address we received from.
    for value in values.into_iter().rev() {
        headers.prepend(sip::Header::from_checked_parts("Via", value));
    }
}

/// Stamp the top Via of an arriving request with where it really came from:
/// `received` when the sent-by host is not the source address (RFC 3261
/// §18.2.1), and the source port in an empty `rport` (RFC 3581 §4), so that
/// responses find their way back through NATs.
pub fn stamp_received(request: &mut sip::Request, origin: &Origin) {
    let Some(mut via) = top(&request.headers) else { return };
    let source_ip = origin.source.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let mut changed = false;
    if host != source_ip {
        via.set_param("received", source_ip);
        changed = true;
    }
    if via.param("rport") == Some("") {
        via.set_param("rport", origin.source.port().to_string());
        changed = true;
    }
    if changed {
        replace_top(&mut request.headers, &via);
    }
}

/// Whether a branch was written by this proxy.
pub fn is_ours(branch: &str) -> bool {
    branch.starts_with(OUR_PREFIX)
}

/// A hash of what stays the same when a request loops back to us unchanged
/// (RFC 3261 §16.3 step 4): the Request-URI, the dialog and transaction
/// identifiers and the Route set, but not the Vias, which every hop adds to.
pub fn loop_hash(request: &sip::Request) -> String {
    let mut hash = Sha256::new();
    let parts = [
        Some(request.uri.as_str()),
        request.call_id(),
        request.from_tag(),
        request.to_tag(),
        request.headers.get("CSeq"),
        request.headers.get("Route"),
    ];
    for part in parts {
        hash.update(part.unwrap_or_default().as_bytes());
        hash.update(b"\0");
    }
    hex::encode(&hash.finalize()[..6])
}

/// A branch for one forwarded copy of a request.
///
/// The first part is unique to the server transaction and the target (so the
/// same request forwarded to the same target gets the same branch, RFC 3261
/// §16.6 step 8); the last part is the request's [`loop_hash`] as it arrived,
/// so that a request coming back to us unchanged is recognised as a loop.
pub fn branch_for(request: &sip::Request, loop_hash: &str, target: &str, index: usize) -> String {
    let mut hash = Sha256::new();
    match top(&request.headers).as_ref().and_then(|v| v.branch().map(str::to_string)) {
        Some(b) if b.starts_with(MAGIC_COOKIE) => hash.update(b.as_bytes()),
        _ => {
            for part in [request.call_id(), request.from_tag(), request.headers.get("CSeq")] {
                hash.update(part.unwrap_or_default().as_bytes());
                hash.update(b"\0");
            }
        }
    }
    hash.update(b"\0");
    hash.update(target.as_bytes());
    hash.update(index.to_le_bytes());
    let digest = hash.finalize();
    format!("{OUR_PREFIX}{}-{loop_hash}", hex::encode(&digest[..10]))
}

/// Whether a request carries one of our Vias written for this very request:
/// it has been here before without changing, so it is looping.
pub fn is_loop(request: &sip::Request, loop_hash: &str) -> bool {
    let suffix = format!("-{loop_hash}");
    request
        .headers
        .get_all("Via")
        .flat_map(entries_of)
        .filter_map(ViaParm::parse)
        .any(|v| v.branch().is_some_and(|b| is_ours(b) && b.ends_with(&suffix)))
}

/// Remove the top via-parm (ours, from a response going back upstream).
pub fn pop_top(headers: &mut sip::Headers) {
    let Some(first) = headers.get("Via") else { return };
    let rest: Vec<&str> = entries_of(first).into_iter().skip(1).collect();
    let rest = rest.join(", ");
    rewrite_vias(headers, rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let v = ViaParm::parse("SIP / 2.0 / udp host.example.com:5062;branch=z9hG4bK1;rport").unwrap();
        assert_eq!((v.transport.as_str(), v.host.as_str(), v.port), ("UDP", "host.example.com", Some(5062)));
        assert_eq!((v.branch(), v.param("rport")), (Some("z9hG4bK1"), Some("")));
        assert_eq!(v.to_string(), "SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK1;rport");
        let v = ViaParm::parse("SIP/2.0/TCP [2001:db8::1]:5070;branch=x").unwrap();
        assert_eq!((v.host.as_str(), v.port), ("[2001:db8::1]", Some(5070)));
        assert!(ViaParm::parse("SIP/2.0/UDP").is_none());
    }

    #[test]
    fn response_address_follows_rfc_3581() {
        let v = ViaParm::parse("SIP/2.0/UDP 10.0.0.1:5060;received=192.0.2.1;rport=40000").unwrap();
        assert_eq!(v.response_addr(), Some("192.0.2.1:40000".parse().unwrap()));
        let v = ViaParm::parse("SIP/2.0/UDP 192.0.2.2;received=192.0.2.1").unwrap();
        assert_eq!(v.response_addr(), Some("192.0.2.1:5060".parse().unwrap()));
    }
}
