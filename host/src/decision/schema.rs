//! What crosses the wire between a proxy and the decision service, in both
//! front ends (JSON-RPC and HTTP): the request to decide, the answer, the
//! reply report, and every way they can be wrong.
//!
//! The same schema is published as `docs/decision.schema.json`; a test
//! checks the two agree.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::policy::{Decision, Edit, Outcome, StepResult};
use crate::sip;
use crate::transport::{Origin, TlsPeer, Transport, UnknownTransport};

/// `decide`: one request, as the proxy received it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DecideParams {
    /// The request as text (`$mb` of a request whose bytes are UTF-8).
    #[serde(default)]
    pub message: Option<String>,
    /// The request, base64: any bytes, as on the wire.
    #[serde(default)]
    pub message_base64: Option<String>,
    /// The transport it arrived over: `udp`, `tcp`, `tls`, `ws` or `wss`.
    pub transport: String,
    /// The source IP address (`192.0.2.7`, `2001:db8::7` or `[2001:db8::7]`).
    pub source: String,
    /// The source port.
    pub port: u16,
    /// The TLS client certificate the proxy verified, when it did.
    #[serde(default)]
    pub tls_peer: Option<TlsPeerParams>,
}

/// `tls-peer` of [`DecideParams`]: only what the proxy verified.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsPeerParams {
    /// `subject`: the certificate subject, as the proxy writes it; empty
    /// by default.
    #[serde(default)]
    pub subject: String,
    /// `dns-names`: the subjectAltName DNS names; none by default.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// `uris`: the subjectAltName URIs; none by default.
    #[serde(default)]
    pub uris: Vec<String>,
}

/// `observe`: the final reply to a request whose answer said `observe`:
/// the reply itself (`reply`), or, for a reply the proxy sent itself and
/// cannot hand over (Kamailio's registrar), the request with the status
/// and reason it was answered with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObserveParams {
    /// The reply as text.
    #[serde(default)]
    pub reply: Option<String>,
    /// The reply, base64.
    #[serde(default)]
    pub reply_base64: Option<String>,
    /// The request that was answered, as text.
    #[serde(default)]
    pub request: Option<String>,
    /// The request that was answered, base64.
    #[serde(default)]
    pub request_base64: Option<String>,
    /// With `request`: the status it was answered with.
    #[serde(default)]
    pub status: Option<u16>,
    /// With `request`: the reason phrase (default: none).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a `decide` or `observe` call was refused. Each names the field at
/// fault, so that whoever wrote the calling script can fix it.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// JSON, but not of the schema: a missing or unknown field, a wrong type.
    #[error("{}{message}", at(path))]
    Schema {
        /// Where in the call, e.g. `tls-peer.subject`; empty for the call
        /// as a whole.
        path: String,
        /// What is wrong there, as serde says it.
        message: String,
    },
    /// Neither form of the message was given.
    #[error("give the message as `{text}` or `{base64}`")]
    NoMessage {
        /// The text field's name, e.g. `message`.
        text: &'static str,
        /// The base64 field's name, e.g. `message-base64`.
        base64: &'static str,
    },
    /// The message was given both as text and as base64.
    #[error("give the message as `{text}` or `{base64}`, not both")]
    TwoMessages {
        /// The text field's name, e.g. `message`.
        text: &'static str,
        /// The base64 field's name, e.g. `message-base64`.
        base64: &'static str,
    },
    /// A `…-base64` field does not decode.
    #[error("`{field}`: not base64: {source}")]
    Base64 {
        /// The field's name.
        field: &'static str,
        /// Why it does not decode.
        source: base64::DecodeError,
    },
    /// The message is larger than `[decision] max-message-bytes`.
    #[error("`{field}`: {size} bytes; at most {max} are decided")]
    TooLarge {
        /// The field it was given in.
        field: &'static str,
        /// Its size in bytes, after base64 decoding (estimated from the
        /// encoded length when that alone is too large).
        size: usize,
        /// `max-message-bytes`.
        max: usize,
    },
    /// The bytes are not a SIP message sipwarden's parser accepts.
    #[error("`{field}`: not a SIP message: {source}")]
    NotSip {
        /// The field it was given in.
        field: &'static str,
        /// Where and why parsing stopped.
        source: sip::ParseError,
    },
    /// A response was given where a request is expected.
    #[error("`{field}`: a SIP response, where a request is expected")]
    NotRequest {
        /// The field it was given in.
        field: &'static str,
    },
    /// A request was given as the reply to `observe`.
    #[error("`{field}`: a SIP request; `observe` takes the reply")]
    NotResponse {
        /// The field it was given in.
        field: &'static str,
    },
    /// An `observe` call gave both the reply and the request with its
    /// status, or neither, or a request without its status.
    #[error(
        "give the reply (`reply`, `reply-base64`) or the request and its status (`request` or `request-base64`, `status`), not both"
    )]
    ReplyOrRequest,
    /// `status` is not a final status: a provisional reply is not an outcome.
    #[error("`status`: {0} is not a final status (200-699)")]
    Status(u16),
    /// `reason` holds a line break or another control character.
    #[error("`reason`: a reason phrase is one line of text")]
    Reason,
    /// `transport` names no SIP transport.
    #[error("`transport`: {0}")]
    Transport(#[source] UnknownTransport),
    /// `source` is not an IP address (a host name is not accepted: the
    /// source is where the packet came from).
    #[error("`source`: `{0}` is not an IP address")]
    Source(String),
}

fn at(path: &str) -> String {
    if path.is_empty() || path == "." { String::new() } else { format!("`{path}`: ") }
}

impl RequestError {
    /// Read `T` out of JSON text, naming the path of whatever is wrong.
    pub fn parse<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, RequestError> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(schema_or_syntax)?;
        deserializer.end().map_err(RequestError::Syntax)?;
        Ok(value)
    }

    /// Read `T` out of a JSON value already parsed (JSON-RPC's `params`).
    pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, RequestError> {
        serde_path_to_error::deserialize(value).map_err(schema_or_syntax)
    }
}

fn schema_or_syntax(e: serde_path_to_error::Error<serde_json::Error>) -> RequestError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return RequestError::Syntax(inner);
    }
    // serde_json appends " at line 1 column 42": the path says where.
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    RequestError::Schema { path, message }
}

/// The bytes of a message given as text or as base64, at most `max` of them.
fn message_bytes(
    text: Option<String>,
    base64: Option<String>,
    names: (&'static str, &'static str),
    max: usize,
) -> Result<(Vec<u8>, &'static str), RequestError> {
    let (bytes, field) = match (text, base64) {
        (Some(text), None) => (text.into_bytes(), names.0),
        (None, Some(encoded)) => {
            // Base64 is 4/3 of the bytes: refuse before decoding a huge string.
            if encoded.len() / 4 * 3 > max + 3 {
                return Err(RequestError::TooLarge { field: names.1, size: encoded.len() / 4 * 3, max });
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim_end())
                .map_err(|source| RequestError::Base64 { field: names.1, source })?;
            (bytes, names.1)
        }
        (None, None) => return Err(RequestError::NoMessage { text: names.0, base64: names.1 }),
        (Some(_), Some(_)) => return Err(RequestError::TwoMessages { text: names.0, base64: names.1 }),
    };
    if bytes.len() > max {
        return Err(RequestError::TooLarge { field, size: bytes.len(), max });
    }
    Ok((bytes, field))
}

impl DecideParams {
    /// The request and the hop it came from, read as the proxy would.
    pub fn into_request(self, max_bytes: usize) -> Result<(sip::Request, Origin), RequestError> {
        let transport: Transport = self.transport.parse().map_err(RequestError::Transport)?;
        let source = parse_ip(&self.source).ok_or_else(|| RequestError::Source(self.source.clone()))?;
        let (bytes, field) =
            message_bytes(self.message, self.message_base64, ("message", "message-base64"), max_bytes)?;
        let request = match sip::parse(&bytes) {
            Ok(sip::Message::Request(request)) => request,
            Ok(sip::Message::Response(_)) => return Err(RequestError::NotRequest { field }),
            Err(source) => return Err(RequestError::NotSip { field, source }),
        };
        let tls_peer = self
            .tls_peer
            .map(|p| TlsPeer { subject: p.subject, dns_names: p.dns_names, uris: p.uris })
            // A certificate counts over TLS (or WSS) only, as in proxy mode;
            // a peer named nothing is no peer.
            .filter(|p| {
                transport.is_secure() && !(p.subject.is_empty() && p.dns_names.is_empty() && p.uris.is_empty())
            });
        let origin = Origin { transport, source: SocketAddr::new(source, self.port), tls_peer };
        Ok((request, origin))
    }
}

impl ObserveParams {
    /// The reply to show the observers: the one given, or the one the proxy
    /// made, rebuilt from the request, status and reason as RFC 3261 §8.2.6
    /// builds it. At most `max_bytes` of message are read.
    pub fn into_response(self, max_bytes: usize) -> Result<sip::Response, RequestError> {
        let described = self.request.is_some() || self.request_base64.is_some() || self.status.is_some();
        let given = self.reply.is_some() || self.reply_base64.is_some();
        if described == given || (described && self.status.is_none()) {
            return Err(RequestError::ReplyOrRequest);
        }
        if !described {
            let (bytes, field) = message_bytes(self.reply, self.reply_base64, ("reply", "reply-base64"), max_bytes)?;
            return match sip::parse(&bytes) {
                Ok(sip::Message::Response(response)) => Ok(response),
                Ok(sip::Message::Request(_)) => Err(RequestError::NotResponse { field }),
                Err(source) => Err(RequestError::NotSip { field, source }),
            };
        }
        let status = self.status.unwrap_or_default();
        if !(200..=699).contains(&status) {
            return Err(RequestError::Status(status));
        }
        let reason = self.reason.unwrap_or_default();
        if reason.chars().any(char::is_control) {
            return Err(RequestError::Reason);
        }
        let names = ("request", "request-base64");
        let (bytes, field) = message_bytes(self.request, self.request_base64, names, max_bytes)?;
        match sip::parse(&bytes) {
            // The reply as the proxy made it (RFC 3261 §8.2.6): what observers
            // read of it are its status, reason and transaction headers.
            Ok(sip::Message::Request(request)) => Ok(sip::Response::to_request(&request, status, &reason)),
            Ok(sip::Message::Response(_)) => Err(RequestError::NotRequest { field }),
            Err(source) => Err(RequestError::NotSip { field, source }),
        }
    }
}

/// `$si` writes IPv6 addresses bare; other proxies bracket them.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    let ip: IpAddr = bare.parse().ok()?;
    Some(ip.to_canonical())
}

/// One header of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderField {
    /// The header's name; known names are in the case the RFCs write them
    /// (`From`, not `f`).
    pub name: String,
    /// The value, without the line break.
    pub value: String,
}

/// What the proxy is to do with the request.
///
/// Each list is given twice: as JSON for programs, and as a block of header
/// lines (`Name: value\r\n`…) that a proxy script hands to one function
/// (Kamailio's `append_hf` and `append_to_reply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Answer {
    /// Route the request on, after these changes, in this order: set the
    /// Request-URI, remove every header named in `remove`, append `add`.
    #[serde(rename_all = "kebab-case")]
    Continue {
        /// The new Request-URI; absent when it did not change.
        #[serde(skip_serializing_if = "Option::is_none")]
        uri: Option<String>,
        /// Headers to remove, every value of each.
        remove: Vec<String>,
        /// Headers to append, in order.
        add: Vec<HeaderField>,
        /// `add` as header lines.
        append: String,
        /// Report this request's final reply with `observe`: a policy asked
        /// to see it.
        observe: bool,
    },
    /// Answer the request with this reply instead of routing it.
    #[serde(rename_all = "kebab-case")]
    Respond {
        /// The status to answer with, 200 to 699.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// Headers to add to the reply (e.g. `WWW-Authenticate`), in order.
        headers: Vec<HeaderField>,
        /// `headers` as header lines.
        reply_headers: String,
        /// The plugin that answered.
        by: String,
        /// Whether the answer is the plugin's failure policy, not its verdict.
        failure: bool,
    },
}

impl Answer {
    /// Continue unchanged (the answer to a request no policy decides).
    pub fn pass() -> Answer {
        Answer::Continue { uri: None, remove: Vec::new(), add: Vec::new(), append: String::new(), observe: false }
    }

    /// The chain's outcome as the changes a proxy makes to its own copy of
    /// the request.
    ///
    /// The proxy holds the request as it received it, so what it needs is the
    /// net effect of every edit of every plugin, not the edits one by one: a
    /// header that any plugin set or removed is removed and its final values
    /// appended; a header only ever added gets the added values appended.
    pub fn of(outcome: &Outcome, original_uri: &str, observe: bool) -> Answer {
        match &outcome.decision {
            Decision::Respond { reply, by, failure } => {
                let headers: Vec<HeaderField> = reply
                    .headers
                    .iter()
                    .map(|h| HeaderField { name: h.name().to_string(), value: h.value().to_string() })
                    .collect();
                Answer::Respond {
                    status: reply.status,
                    reason: reply.reason.clone(),
                    reply_headers: lines(&headers),
                    headers,
                    by: by.to_string(),
                    failure: *failure,
                }
            }
            Decision::Forward => {
                let uri = (outcome.request.uri != original_uri).then(|| outcome.request.uri.clone());
                let (remove, add) = net_header_changes(outcome);
                Answer::Continue { uri, remove, append: lines(&add), add, observe }
            }
        }
    }
}

/// What happened to one header name across the chain.
enum Touched {
    /// Set or removed by some plugin: replace every value with the final ones.
    Replaced,
    /// Only added to: append these.
    Added(Vec<String>),
}

fn net_header_changes(outcome: &Outcome) -> (Vec<String>, Vec<HeaderField>) {
    let mut touched: Vec<(String, Touched)> = Vec::new();
    let edits = outcome.steps.iter().filter_map(|s| match &s.result {
        StepResult::Continue { edits } => Some(edits),
        _ => None,
    });
    for edit in edits.flatten() {
        let (name, value) = match edit {
            Edit::AddHeader { name, value } => (name, Some(value)),
            Edit::SetHeader { name, .. } | Edit::RemoveHeader { name } => (name, None),
            Edit::SetRequestUri { .. } => continue,
        };
        let name = sip::canonical_name(name);
        let slot = match touched.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(i) => &mut touched[i].1,
            None => {
                touched.push((name.to_string(), Touched::Added(Vec::new())));
                // Just pushed.
                &mut touched.last_mut().expect("pushed").1
            }
        };
        match (slot, value) {
            (Touched::Added(values), Some(value)) => values.push(value.clone()),
            (slot, None) => *slot = Touched::Replaced,
            (Touched::Replaced, Some(_)) => {}
        }
    }
    let mut remove = Vec::new();
    let mut add = Vec::new();
    for (name, how) in touched {
        match how {
            Touched::Replaced => {
                for value in outcome.request.headers.get_all(&name) {
                    add.push(HeaderField { name: name.clone(), value: value.to_string() });
                }
                remove.push(name);
            }
            Touched::Added(values) => {
                add.extend(values.into_iter().map(|value| HeaderField { name: name.clone(), value }));
            }
        }
    }
    (remove, add)
}

fn lines(headers: &[HeaderField]) -> String {
    let mut out = String::new();
    for h in headers {
        out.push_str(&h.name);
        out.push_str(": ");
        out.push_str(&h.value);
        out.push_str("\r\n");
    }
    out
}

/// The answer to `observe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Whether the reply belonged to a request waiting for it. `false`: a
    /// reply to a request no policy asked to observe, one reported twice (a
    /// forked request's second final reply), or one that came too late.
    pub matched: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Result<DecideParams, RequestError> {
        RequestError::parse(json.as_bytes())
    }

    #[test]
    fn errors_name_the_field() {
        let e = params(r#"{"message": "x", "transport": "udp", "source": "127.0.0.1", "port": 5060, "colour": 1}"#)
            .unwrap_err();
        assert!(matches!(e, RequestError::Schema { .. }), "{e:?}");
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        let e = params(r#"{"message": "x", "transport": "udp", "source": "127.0.0.1", "port": "five"}"#).unwrap_err();
        assert!(e.to_string().starts_with("`port`: "), "{e}");
        let e = params(
            r#"{"message": "x", "transport": "udp", "source": "127.0.0.1", "port": 1, "tls-peer": {"dns-names": [1]}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("`tls-peer.dns-names[0]`: "), "{e}");
        let e = params(r#"{"message": "x", "#).unwrap_err();
        assert!(matches!(e, RequestError::Syntax(_)), "{e:?}");
        let e =
            params(r#"{"message": "x", "transport": "udp", "source": "127.0.0.1", "port": 1} trailing"#).unwrap_err();
        assert!(matches!(e, RequestError::Syntax(_)), "{e:?}");
    }

    #[test]
    fn the_message_is_read_as_the_proxy_reads_it() {
        let sip = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1\r\n\
                   From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\n\
                   CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let p = DecideParams {
            message: None,
            message_base64: Some(base64::engine::general_purpose::STANDARD.encode(sip)),
            transport: "TLS".into(),
            source: "[::ffff:192.0.2.7]".into(),
            port: 5061,
            tls_peer: Some(TlsPeerParams { dns_names: vec!["core.example.net".into()], ..Default::default() }),
        };
        let (request, origin) = p.into_request(65535).unwrap();
        assert_eq!(request.uri, "sip:bob@example.com");
        assert_eq!(origin.transport, Transport::Tls);
        assert_eq!(origin.source, "192.0.2.7:5061".parse().unwrap(), "IPv4-mapped given as IPv4");
        assert_eq!(origin.tls_peer.unwrap().dns_names, ["core.example.net"]);

        let base = DecideParams {
            message: Some("not sip".into()),
            message_base64: None,
            transport: "udp".into(),
            source: "127.0.0.1".into(),
            port: 1,
            tls_peer: Some(TlsPeerParams::default()),
        };
        assert!(matches!(base.clone().into_request(100), Err(RequestError::NotSip { field: "message", .. })));
        let big = DecideParams { message: Some("x".repeat(101)), ..base.clone() };
        assert!(matches!(big.into_request(100), Err(RequestError::TooLarge { size: 101, max: 100, .. })));
        let both = DecideParams { message_base64: Some(String::new()), ..base.clone() };
        assert!(matches!(both.into_request(100), Err(RequestError::TwoMessages { .. })));
        let sctp = DecideParams { transport: "sctp".into(), ..base.clone() };
        assert!(sctp.into_request(100).unwrap_err().to_string().starts_with("`transport`: unknown transport"));
        let host = DecideParams { source: "example.com".into(), ..base.clone() };
        assert!(matches!(host.into_request(100), Err(RequestError::Source(_))));
        let bad64 = DecideParams { message: None, message_base64: Some("@@@".into()), ..base };
        assert!(matches!(bad64.into_request(100), Err(RequestError::Base64 { field: "message-base64", .. })));
    }
}
