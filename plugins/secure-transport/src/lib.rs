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

use std::net::{IpAddr, Ipv6Addr};

use serde::Deserialize;
use sipwarden_sdk::{Header, Policy, Prefix, Request, Transport, Verdict, address, export_policy};

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
        if let Some(bad) = config.methods.iter().find(|m| !is_method_token(m)) {
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
fn asks_for_sips(req: &Request) -> bool {
    is_sips(&req.uri()) || req.header("To").is_some_and(|to| is_sips(addr_uri(&to)))
}

fn is_sips(uri: &str) -> bool {
    uri.trim_start().as_bytes().get(..5).is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"sips:"))
}

/// The URI of a name-addr (`"Bob" <sips:bob@example.com>;tag=1`) or
/// addr-spec (`sips:bob@example.com;tag=1`) header value.
fn addr_uri(field: &str) -> &str {
    let field = field.trim();
    let rest = address::after_display_name(field);
    match rest.find('<') {
        Some(open) => &rest[open + 1..],
        None => rest,
    }
}

/// The host of a `sips:` URI, for the warn-agent, or why the URI cannot
/// name where TLS is served.
fn tls_uri_host(uri: &str) -> Result<&str, String> {
    if uri.chars().any(|c| c == '"' || c == '\\' || c.is_control() || c.is_whitespace()) {
        return Err("contains a quote, a backslash, a space or a control character".to_string());
    }
    if !is_sips(uri) {
        return Err("is not a sips: URI (e.g. sips:proxy.example.com:5061)".to_string());
    }
    let rest = &uri[5..];
    let hostport = &rest[..rest.find(';').unwrap_or(rest.len())];
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or("has an unclosed IPv6 reference")?;
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(format!("has a bad IPv6 address `{address}`"));
            }
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or("has text after the host")?),
            };
            (&hostport[..address.len() + 2], port)
        }
        None => {
            let (host, port) = match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            };
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                return Err(
                    "must name the proxy by host and port, nothing else (e.g. sips:proxy.example.com:5061)".to_string()
                );
            }
            (host, port)
        }
    };
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(format!("has a bad port `{port}`"));
    }
    Ok(host)
}

/// A SIP method is a token (RFC 3261 §25.1).
fn is_method_token(method: &str) -> bool {
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

export_policy!(SecureTransport);
