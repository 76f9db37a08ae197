//! SEC-1: record users' registration attempts.
//!
//! > **SEC-1** The IM server MAY record users' registration attempts.
//!
//! This policy never decides anything: [`decide`](Policy::decide) always lets
//! the request through. It runs first in the chain (manifest `order = 1`), so
//! that it has let through every attempt, including the ones a later policy
//! refuses or challenges: the host shows a plugin the final response of every
//! request it let through, whoever answered it. In [`observe`](Policy::observe)
//! it appends one audit record per attempt:
//!
//! | field | value |
//! |---|---|
//! | `event` | `"register"` (for another configured method, its name in lowercase, e.g. `"subscribe"`) |
//! | `aor` | the To URI: the address of record |
//! | `contacts` | the Contact values joined with `", "` (`"*"` for remove-all); null when there is none (a query) |
//! | `expires` | the Expires header as an integer; null when absent or not a number |
//! | `source`, `port`, `transport` | where the request came from (the hop, not its claims) |
//! | `tls-peer` | the subject of the peer's TLS certificate; null without one |
//! | `authenticated` | for a 2xx outcome: `"digest"` when the request carries digest credentials (with `username`), else `"asserted"` when the request, as the chain left it, carries `P-Asserted-Identity`; `"none"` otherwise, and for every attempt that was refused or challenged |
//! | `username` | the digest `username=` parameter, only with `"digest"` |
//! | `asserted-identity` | the P-Asserted-Identity URI, only with `"asserted"` |
//! | `status`, `reason` | the final response |
//! | `call-id`, `cseq` | to find the transaction in other logs |
//!
//! The host adds `time` and `plugin`.
//!
//! No credential material ever enters a record: of the `Authorization` (or
//! `Proxy-Authorization`) header only the `username` parameter is read, never
//! `response`, `nonce` or `cnonce`; a password in the user part of a URI
//! (`sip:alice:pw@…`, NOT RECOMMENDED by RFC 3261 §19.1.1 but legal) is cut
//! out of every URI recorded. The host refuses fields named like secrets in
//! any case.
//!
//! `"asserted"` is only as trustworthy as the `P-Asserted-Identity` the chain
//! leaves on the request: it relies on the identity policy (SEC-5/REG-5)
//! removing the header from untrusted sources and setting it only after
//! confirming the user (RFC 3325 §5). That holds only for requests the chain
//! let through: a refused or challenged attempt ended the chain before the
//! header could be removed, so an identity on it is a claim, not a fact, and
//! is not recorded as authentication. A `"digest"` record relies on the 2xx:
//! a plugin cannot check a digest response itself, but the registrar or the
//! identity policy would not have accepted a wrong one.
//!
//! A retransmission is not a second attempt: the proxy absorbs
//! retransmissions before the chain runs, so each attempt (each transaction)
//! is decided, observed and recorded once. A re-sent REGISTER with a new CSeq
//! (after a challenge, or a refresh) is a new attempt and gets its own record.
//!
//! If the audit trail refuses a record (disk full, no trail configured), the
//! policy logs an error with the reason: the response has been decided by
//! then and cannot change.
//!
//! Configuration (the manifest's `[config]` table):
//!
//! ```toml
//! [config]
//! methods = ["REGISTER"]      # whose attempts to record (default ["REGISTER"]);
//!                             # each must also be in the manifest's `methods`
//! include-contacts = true     # record the Contact values (default true)
//! ```

use serde::Deserialize;
use sipwarden_sdk::audit::{self, Field};
use sipwarden_sdk::{
    Origin, Policy, Request, Response, Transport, Verdict, credentials, error, export_policy, is_token, split_list,
    uri_of,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default = "default_methods")]
    methods: Vec<String>,
    #[serde(default = "default_include_contacts")]
    include_contacts: bool,
}

fn default_methods() -> Vec<String> {
    vec!["REGISTER".to_string()]
}

fn default_include_contacts() -> bool {
    true
}

struct Audit {
    methods: Vec<String>,
    include_contacts: bool,
}

impl Policy for Audit {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.methods.is_empty() {
            return Err("methods is empty: nothing would be recorded".to_string());
        }
        if let Some(bad) = config.methods.iter().find(|m| !is_token(m)) {
            return Err(format!("methods: `{bad}` is not a SIP method name"));
        }
        Ok(Audit { methods: config.methods, include_contacts: config.include_contacts })
    }

    /// Nothing to decide: let every attempt through, so that its outcome is
    /// observed.
    fn decide(&self, _req: &Request) -> Verdict {
        Verdict::pass()
    }

    fn observe(&self, req: &Request, resp: &Response) {
        let method = req.method();
        if !self.records(&method) {
            return;
        }
        let record = self.attempt_record(&method, req, resp);
        if let Err(reason) = audit::append(&record) {
            let call_id = req.header("Call-ID").unwrap_or_default();
            error!("{method} attempt (Call-ID {call_id}, status {}) not recorded: {reason}", resp.status());
        }
    }
}

impl Audit {
    /// Whether attempts of this method are recorded (methods are
    /// case-sensitive, RFC 3261 §7.1).
    fn records(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// SEC-1: one record per attempt, with its outcome and without any
    /// credential material.
    fn attempt_record(&self, method: &str, req: &Request, resp: &Response) -> Vec<Field> {
        let origin = req.origin();
        let status = resp.status();
        let accepted = (200..300).contains(&status);
        // Only a request the chain let through has had untrusted assertions removed.
        let asserted =
            if accepted { req.header("P-Asserted-Identity").map(|pai| without_password(addr_uri(&pai))) } else { None };
        let mut record = vec![
            audit::text("event", method.to_ascii_lowercase()),
            audit::optional("aor", req.header("To").map(|to| without_password(addr_uri(&to)))),
        ];
        if self.include_contacts {
            record.push(audit::optional("contacts", contacts(req)));
        }
        record.push(expires(req));
        record.extend(origin_fields(&origin));
        match authentication(req, accepted, asserted.is_some()) {
            Authenticated::Digest(username) => {
                record.push(audit::text("authenticated", "digest"));
                record.push(audit::text("username", username));
            }
            Authenticated::Asserted => record.push(audit::text("authenticated", "asserted")),
            Authenticated::None => record.push(audit::text("authenticated", "none")),
        }
        if let Some(identity) = asserted {
            record.push(audit::text("asserted-identity", identity));
        }
        record.push(audit::integer("status", i64::from(status)));
        record.push(audit::text("reason", resp.reason()));
        record.push(audit::optional("call-id", req.header("Call-ID")));
        record.push(audit::optional("cseq", req.header("CSeq")));
        record
    }
}

/// How the user of an attempt was authenticated, as far as the record can
/// tell: only an accepted (2xx) attempt was authenticated at all.
enum Authenticated {
    /// Digest credentials that the identity policy (or the registrar)
    /// accepted.
    Digest(String),
    /// The chain left a `P-Asserted-Identity` on the accepted request.
    Asserted,
    None,
}

fn authentication(req: &Request, accepted: bool, asserted: bool) -> Authenticated {
    if !accepted {
        return Authenticated::None;
    }
    match digest_username(req) {
        Some(username) => Authenticated::Digest(username),
        None if asserted => Authenticated::Asserted,
        None => Authenticated::None,
    }
}

/// The `username` of the first digest credentials the request carries, in
/// `Authorization` (RFC 3261 §22.2) or `Proxy-Authorization` (§22.3).
fn digest_username(req: &Request) -> Option<String> {
    ["Authorization", "Proxy-Authorization"]
        .iter()
        .flat_map(|name| req.header_values(name))
        .find_map(|credentials| credentials::digest_param(&credentials, "username").filter(|name| !name.is_empty()))
}

/// The Contact values joined with `", "`; `*` stays `*` (remove all
/// bindings, RFC 3261 §10.2.2).
fn contacts(req: &Request) -> Option<String> {
    let values: Vec<String> = req
        .header_values("Contact")
        .iter()
        .map(|value| without_password(value.trim()))
        .filter(|value| !value.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The Expires header (delta-seconds, RFC 3261 §20.19), when it is one.
fn expires(req: &Request) -> Field {
    match req.header("Expires").and_then(|e| e.trim().parse::<u32>().ok()) {
        Some(seconds) => audit::integer("expires", i64::from(seconds)),
        None => audit::optional("expires", None),
    }
}

/// Where the attempt came from: the hop that sent it.
fn origin_fields(origin: &Origin) -> Vec<Field> {
    vec![
        audit::text("source", origin.address.clone()),
        audit::integer("port", i64::from(origin.port)),
        audit::text("transport", transport_name(origin.transport)),
        audit::optional("tls-peer", origin.tls_peer.as_ref().map(|peer| peer.subject.clone())),
    ]
}

fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Ws => "ws",
        Transport::Wss => "wss",
    }
}

/// The URI of the first address of a header value: a name-addr (`"Bob"
/// <sip:bob@example.com>;tag=1`), an addr-spec (`sip:bob@example.com;tag=1`,
/// whose `;` starts header parameters, RFC 3261 §20.10) or a list of them
/// (P-Asserted-Identity), read as the host reads it. A value that is not
/// one is recorded as it is (its passwords cut out all the same).
fn addr_uri(field: &str) -> &str {
    let field = field.trim();
    split_list(field).ok().and_then(|list| list.first().and_then(|first| uri_of(first).ok())).unwrap_or(field)
}

/// The text with the password of every `sip:`/`sips:` URI's userinfo cut
/// out (`sip:alice:pw@host` becomes `sip:alice@host`): a password is
/// credential material and never goes into the audit trail.
fn without_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_sip_scheme(rest) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let scheme_len = if rest.as_bytes().get(3) == Some(&b':') { 4 } else { 5 };
        out.push_str(&rest[..scheme_len]);
        rest = &rest[scheme_len..];
        let end = rest.find(|c: char| "@;?>,\" \t".contains(c)).unwrap_or(rest.len());
        if rest[end..].starts_with('@')
            && let Some(colon) = rest[..end].find(':')
        {
            out.push_str(&rest[..colon]);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The byte offset of the next `sip:` or `sips:` (any case).
fn find_sip_scheme(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| {
        let rest = &bytes[i..];
        rest.len() >= 4
            && rest[..3].eq_ignore_ascii_case(b"sip")
            && (rest[3] == b':' || (rest.len() >= 5 && rest[3].eq_ignore_ascii_case(&b's') && rest[4] == b':'))
    })
}

export_policy!(Audit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_address_is_the_hosts_reading_without_password() {
        let recorded = |field: &str| without_password(addr_uri(field));
        assert_eq!(
            recorded("\"Alice <x>\" <sip:alice:pw@Example.com;transport=tcp>;tag=1"),
            "sip:alice@Example.com;transport=tcp"
        );
        assert_eq!(recorded("sip:alice@example.com;tag=1"), "sip:alice@example.com");
        assert_eq!(recorded("\"Alice, A.\" <sip:alice@example.com>, <tel:+15551234567>"), "sip:alice@example.com");
        // Not an address: kept as it is, passwords still cut.
        assert_eq!(recorded(" <sip:bob:pw@example.com "), "<sip:bob@example.com");
    }
}
