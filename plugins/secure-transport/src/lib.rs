//! SEC-4 / REG-1: signalling and registration data are transported securely.
//!
//! > **SEC-4** Signalling and user data SHALL be transported securely.
//! > **REG-1** Registration data SHALL be transported securely.
//!
//! Secure transport here is TLS: a request of the enforced methods that
//! arrives over a plain transport (UDP, TCP, or WebSocket without TLS) is
//! refused, unless it comes from a trusted peer (the SIP/IP core, whose links
//! the operator secures otherwise). TLS and secure WebSocket (`wss`) pass.
//! The refusal carries a Warning that tells the client where to go instead:
//!
//! ```text
//! SIP/2.0 403 TLS Required
//! Warning: 399 proxy.example.com "Use TLS: send to sips:proxy.example.com:5061"
//! ```
//!
//! Without `tls-uri` the warn-agent is the pseudonym `sipwarden` and the text
//! gives no address: `Warning: 399 sipwarden "Use TLS"`.
//!
//! **SIPS (RFC 3261 §26.2.2).** A request whose Request-URI or To is a
//! `sips:` URI asks for TLS on every hop. One that arrives over a plain
//! transport is refused with the same status and the reason
//! `SIPS Requires TLS` (and the same Warning), whatever its method and even
//! from a trusted peer: no plain hop can satisfy `sips:`, and forwarding it
//! would break the guarantee the requester asked for.
//!
//! **Methods.** By default every method that carries IM signalling or user
//! data is enforced: `REGISTER` (REG-1), `MESSAGE`, `INVITE`, `UPDATE`,
//! `PRACK`, `INFO`, `BYE` (sessions and pager mode), `SUBSCRIBE`, `NOTIFY`,
//! `PUBLISH` (presence), `REFER`. `OPTIONS` is not: it carries no user data
//! and is used by load balancers and peers to probe liveness, often over
//! UDP. `ACK` and `CANCEL` never reach the policy chain (the proxy matches
//! them to their INVITE, which was decided here). Operators who want
//! everything enforced add `OPTIONS` to `methods`.
//!
//! Configuration (the manifest's `[config]` table):
//!
//! ```toml
//! [config]
//! methods = ["REGISTER", "MESSAGE", "INVITE", "UPDATE", "PRACK", "INFO", "BYE",
//!            "SUBSCRIBE", "NOTIFY", "PUBLISH", "REFER"]   # the default
//! trusted-peers = ["10.1.0.0/16", "2001:db8:c0::/48", "192.0.2.7"]
//!                              # IP addresses and CIDR prefixes exempt from
//!                              # the TLS rule (default none); a bad entry
//!                              # refuses the configuration, naming it
//! status = 403                 # the refusal's status, 400-699 (default 403)
//! reason = "TLS Required"      # its reason phrase (default "TLS Required")
//! tls-uri = "sips:proxy.example.com:5061"
//!                              # where TLS is served, for the Warning (default none)
//! ```
//!
//! A source address is matched as the hop that sent the request, never as
//! anything the message claims (Via, Contact); an IPv4 peer seen on a
//! dual-stack socket (`::ffff:10.1.2.3`) is matched as its IPv4 address.

use std::net::IpAddr;

use serde::Deserialize;
use sipwarden_sdk::grammar::UriError;
use sipwarden_sdk::{Header, Policy, Prefix, Request, SipUri, Transport, Verdict, export_policy, is_token, uri_of};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default = "default_methods")]
    methods: Vec<String>,
    #[serde(default)]
    trusted_peers: Vec<String>,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default = "default_reason")]
    reason: String,
    #[serde(default)]
    tls_uri: Option<String>,
}

fn default_methods() -> Vec<String> {
    ["REGISTER", "MESSAGE", "INVITE", "UPDATE", "PRACK", "INFO", "BYE", "SUBSCRIBE", "NOTIFY", "PUBLISH", "REFER"]
        .map(String::from)
        .to_vec()
}

fn default_status() -> u16 {
    403
}

fn default_reason() -> String {
    "TLS Required".to_string()
}

/// The reason phrase of a `sips:` request refused for its plain transport.
const SIPS_REASON: &str = "SIPS Requires TLS";

/// The warn-agent when no `tls-uri` names the proxy (a pseudonym, RFC 3261 §20.43).
const PSEUDONYM: &str = "sipwarden";

struct SecureTransport {
    methods: Vec<String>,
    trusted_peers: Vec<Prefix>,
    status: u16,
    reason: String,
    /// The Warning every refusal carries.
    warning: String,
}

impl Policy for SecureTransport {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if !(400..=699).contains(&config.status) {
            return Err(format!("status {} is not a final error status (400-699)", config.status));
        }
        if config.reason.is_empty() || config.reason.chars().any(char::is_control) {
            return Err(format!("reason {:?} must be a non-empty phrase without control characters", config.reason));
        }
        if let Some(bad) = config.methods.iter().find(|m| !is_token(m)) {
            return Err(format!("methods: `{bad}` is not a SIP method name"));
        }
        let trusted_peers = config
            .trusted_peers
            .iter()
            .map(|entry| Prefix::parse(entry).map_err(|why| format!("trusted-peers: `{}` {why}", entry.trim())))
            .collect::<Result<_, _>>()?;
        let warning = match &config.tls_uri {
            Some(uri) => {
                let host = tls_uri_host(uri).map_err(|why| format!("tls-uri: `{uri}` {why}"))?;
                format!("399 {host} \"Use TLS: send to {uri}\"")
            }
            None => format!("399 {PSEUDONYM} \"Use TLS\""),
        };
        Ok(SecureTransport {
            methods: config.methods,
            trusted_peers,
            status: config.status,
            reason: config.reason,
            warning,
        })
    }

    fn decide(&self, req: &Request) -> Verdict {
        let source = req.source();
        if is_secure(source.transport) {
            return Verdict::pass();
        }
        if asks_for_sips(req) {
            return self.refuse(SIPS_REASON);
        }
        if self.enforces(&req.method()) && !self.is_trusted(source.address.into()) {
            return self.refuse(&self.reason);
        }
        Verdict::pass()
    }
}

impl SecureTransport {
    /// Whether the TLS rule applies to this method (case-sensitive, RFC 3261 §7.1).
    fn enforces(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// Whether the hop that sent the request is a trusted peer.
    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_peers.iter().any(|prefix| prefix.contains(address))
    }

    fn refuse(&self, reason: &str) -> Verdict {
        Verdict::respond(self.status, reason, vec![Header::new("Warning", self.warning.as_str())])
    }
}

/// TLS and secure WebSocket (RFC 7118) are secure; UDP, TCP and plain
/// WebSocket are not.
fn is_secure(transport: Transport) -> bool {
    matches!(transport, Transport::Tls | Transport::Wss)
}

/// Whether the Request-URI or the To is a `sips:` URI (RFC 3261 §26.2.2).
/// The To is read as the host reads it; the host refused the request
/// before any policy ran if it could not.
fn asks_for_sips(req: &Request) -> bool {
    is_sips(&req.uri()) || req.header("To").is_some_and(|to| uri_of(&to).is_ok_and(is_sips))
}

fn is_sips(uri: &str) -> bool {
    uri.trim_start().as_bytes().get(..5).is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"sips:"))
}

/// The host of a `sips:` URI, for the warn-agent, or why the URI cannot
/// name where TLS is served.
fn tls_uri_host(uri: &str) -> Result<String, String> {
    if uri.chars().any(|c| c == '"' || c == '\\' || c.is_control() || c.is_whitespace()) {
        return Err("contains a quote, a backslash, a space or a control character".to_string());
    }
    if !is_sips(uri) {
        return Err("is not a sips: URI (e.g. sips:proxy.example.com:5061)".to_string());
    }
    let parsed = SipUri::parse(uri).map_err(|error| match error {
        UriError::BadPort(port) => format!("has a bad port `{port}`"),
        error => format!("is not a valid sips: URI ({error})"),
    })?;
    if parsed.user().is_some() || parsed.headers().next().is_some() {
        return Err("must name the proxy by host and port, nothing else (e.g. sips:proxy.example.com:5061)".to_string());
    }
    if parsed.port() == Some(0) {
        return Err("has a bad port `0`".to_string());
    }
    Ok(parsed.host().to_owned())
}

export_policy!(SecureTransport);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_uris_name_a_host_and_port() {
        assert_eq!(tls_uri_host("sips:Proxy.example.com:5061").as_deref(), Ok("proxy.example.com"));
        assert_eq!(tls_uri_host("sips:[2001:db8::1]:5061;transport=tcp").as_deref(), Ok("[2001:db8::1]"));
        for (uri, why) in [
            ("sip:proxy.example.com:5061", "is not a sips: URI"),
            ("sips:proxy.example.com:99999", "has a bad port `99999`"),
            ("sips:proxy.example.com:0", "has a bad port `0`"),
            ("sips:alice@proxy.example.com", "must name the proxy by host and port"),
            ("sips:proxy.example.com?subject=x", "must name the proxy by host and port"),
            ("sips:[2001:db8::1", "is not a valid sips: URI (unterminated IPv6 reference)"),
            ("sips:proxy example", "contains a quote, a backslash, a space"),
        ] {
            let error = tls_uri_host(uri).unwrap_err();
            assert!(error.contains(why), "{uri}: {error}");
        }
    }
}
