//! Verdicts as the host acts on them, checked before anything is applied.
//!
//! A verdict comes out of a sandbox and goes into the signalling path, so it
//! is treated as untrusted input: bounded in size, header names must be
//! tokens, values cannot carry line breaks (which would smuggle headers into
//! the message), and the headers the proxy core owns cannot be touched.

use serde::Serialize;

use super::bindings::types as wit;
use crate::sip;

/// What a plugin decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Pass the request on, to the next plugin and after the last one to
    /// routing.
    Continue {
        /// Applied to the request in order, before the next plugin sees it.
        edits: Vec<Edit>,
    },
    /// Answer the request; no later plugin runs.
    Respond(Reply),
}

/// Why a raw verdict does not become a [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Malformed(MalformedVerdict),
    /// The plugin said it could not decide.
    Declined(String),
}

impl From<MalformedVerdict> for Refusal {
    fn from(m: MalformedVerdict) -> Refusal {
        Refusal::Malformed(m)
    }
}

/// A checked change to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// Replace the Request-URI (retargeting, RFC 3261 §16.5).
    SetRequestUri {
        /// A URI [`sip::is_valid_request_uri`] accepts.
        uri: String,
    },
    /// Append a field after all the others.
    AddHeader {
        /// The canonical name ([`sip::canonical_name`]), never one the proxy
        /// owns.
        name: String,
        /// One line, with no control character but tab.
        value: String,
    },
    /// Replace every field of that name by one, where the first stood;
    /// append it when there was none.
    SetHeader {
        /// The canonical name, never one the proxy owns.
        name: String,
        /// One line, with no control character but tab.
        value: String,
    },
    /// Remove every field of that name.
    RemoveHeader {
        /// The canonical name, never one the proxy owns.
        name: String,
    },
}

/// A checked response to send instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// From 200 to 699: a provisional response cannot end a request.
    pub status: u16,
    /// The reason phrase, e.g. `Use TLS`, with no control character.
    pub reason: String,
    /// Headers sent after those copied from the request, e.g. a
    /// `WWW-Authenticate` challenge; none the proxy owns.
    pub headers: Vec<sip::Header>,
}

/// Why a verdict was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedVerdict {
    /// More than 64 edits or reply headers (how many).
    #[error("verdict has {0} headers and edits; at most {MAX_ITEMS} are allowed")]
    TooManyItems(usize),
    /// More than 16 KiB of text in the edits, the reply or the reason a
    /// plugin gives for not deciding (how many bytes).
    #[error("verdict is {0} bytes; at most {MAX_BYTES} are allowed")]
    TooLarge(usize),
    /// A reply status outside 200–699.
    #[error("status {0} cannot answer a request (200-699 only)")]
    BadStatus(u16),
    /// A reply's reason phrase holds a control character.
    #[error("reason phrase contains a control character")]
    BadReason,
    /// A header name that is not an RFC 3261 token (the name as sent).
    #[error("header name `{0}` is not a token")]
    BadHeaderName(String),
    /// A header value holds a control character other than tab (the
    /// header's name): a line break would smuggle headers into the message.
    #[error("value of header `{0}` contains a line break or control character")]
    BadHeaderValue(String),
    /// An edit or reply header names Via, Call-ID, CSeq, Content-Length,
    /// Max-Forwards, From or To (in canonical form), which the proxy core
    /// keeps consistent.
    #[error("header `{0}` belongs to the proxy and cannot be set by a policy")]
    ReservedHeader(String),
    /// A retarget to a URI [`sip::is_valid_request_uri`] refuses (the URI as
    /// sent).
    #[error("Request-URI `{0}` is not a valid SIP or tel URI")]
    BadRequestUri(String),
}

/// Most headers and edits one verdict may carry.
pub const MAX_ITEMS: usize = 64;
/// Most bytes of text one verdict may carry.
pub const MAX_BYTES: usize = 16 * 1024;

/// Headers that the proxy core writes and keeps consistent (RFC 3261 §16.6):
/// a policy that could edit them could break routing, transaction matching
/// or framing.
const RESERVED: [&str; 7] = ["Via", "Call-ID", "CSeq", "Content-Length", "Max-Forwards", "From", "To"];

impl Reply {
    /// The response this reply makes to `request` (RFC 3261 §8.2.6), with
    /// the reply's headers after the ones copied from the request.
    pub fn to_response(&self, request: &sip::Request) -> sip::Response {
        let mut response = sip::Response::to_request(request, self.status, &self.reason);
        for header in &self.headers {
            response.headers.append(header.clone());
        }
        response
    }
}

impl Verdict {
    /// Check a verdict lifted from a plugin.
    pub(crate) fn check(raw: wit::Verdict) -> Result<Verdict, Refusal> {
        match raw {
            wit::Verdict::Continue(edits) => {
                if edits.len() > MAX_ITEMS {
                    return Err(MalformedVerdict::TooManyItems(edits.len()).into());
                }
                let size: usize = edits
                    .iter()
                    .map(|e| match e {
                        wit::Edit::SetRequestUri(u) | wit::Edit::RemoveHeader(u) => u.len(),
                        wit::Edit::AddHeader(h) | wit::Edit::SetHeader(h) => h.name.len() + h.value.len(),
                    })
                    .sum();
                if size > MAX_BYTES {
                    return Err(MalformedVerdict::TooLarge(size).into());
                }
                let edits = edits.into_iter().map(check_edit).collect::<Result<_, MalformedVerdict>>()?;
                Ok(Verdict::Continue { edits })
            }
            wit::Verdict::Respond(reply) => {
                if reply.headers.len() > MAX_ITEMS {
                    return Err(MalformedVerdict::TooManyItems(reply.headers.len()).into());
                }
                let size =
                    reply.reason.len() + reply.headers.iter().map(|h| h.name.len() + h.value.len()).sum::<usize>();
                if size > MAX_BYTES {
                    return Err(MalformedVerdict::TooLarge(size).into());
                }
                if !(200..=699).contains(&reply.status) {
                    return Err(MalformedVerdict::BadStatus(reply.status).into());
                }
                if reply.reason.chars().any(char::is_control) {
                    return Err(MalformedVerdict::BadReason.into());
                }
                let headers = reply.headers.into_iter().map(check_header).collect::<Result<_, MalformedVerdict>>()?;
                Ok(Verdict::Respond(Reply { status: reply.status, reason: reply.reason, headers }))
            }
            wit::Verdict::Fail(reason) => {
                if reason.len() > MAX_BYTES {
                    return Err(MalformedVerdict::TooLarge(reason.len()).into());
                }
                Err(Refusal::Declined(reason))
            }
        }
    }
}

fn check_edit(edit: wit::Edit) -> Result<Edit, MalformedVerdict> {
    Ok(match edit {
        wit::Edit::SetRequestUri(uri) => {
            if !sip::is_valid_request_uri(&uri) {
                return Err(MalformedVerdict::BadRequestUri(uri));
            }
            Edit::SetRequestUri { uri }
        }
        wit::Edit::AddHeader(h) => {
            let (name, value) = check_header(h)?.into_parts();
            Edit::AddHeader { name, value }
        }
        wit::Edit::SetHeader(h) => {
            let (name, value) = check_header(h)?.into_parts();
            Edit::SetHeader { name, value }
        }
        wit::Edit::RemoveHeader(name) => Edit::RemoveHeader { name: check_name(&name)? },
    })
}

fn check_name(name: &str) -> Result<String, MalformedVerdict> {
    if !sipwarden_grammar::is_token(name) {
        return Err(MalformedVerdict::BadHeaderName(name.to_string()));
    }
    let canonical = sip::canonical_name(name).to_string();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&canonical)) {
        return Err(MalformedVerdict::ReservedHeader(canonical));
    }
    Ok(canonical)
}

fn check_header(h: wit::Header) -> Result<sip::Header, MalformedVerdict> {
    let name = check_name(&h.name)?;
    // Tab is the only control character a header value may contain.
    if h.value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(MalformedVerdict::BadHeaderValue(name));
    }
    // `Header::new` checks again what it must (a token, one line): the
    // checks above are stricter, so it cannot refuse what passed them.
    sip::Header::new(&name, h.value).map_err(|_| MalformedVerdict::BadHeaderValue(name))
}

/// Apply checked edits to a request, in order.
pub fn apply(request: &mut sip::Request, edits: &[Edit]) {
    for edit in edits {
        // `Verdict::check` refused every name and value that `Headers` would
        // refuse (non-token names, line breaks), so these cannot fail.
        let applied = match edit {
            Edit::SetRequestUri { uri } => {
                request.uri = uri.clone();
                Ok(())
            }
            Edit::AddHeader { name, value } => request.headers.push(name, value.as_str()),
            Edit::SetHeader { name, value } => request.headers.set(name, value.as_str()),
            Edit::RemoveHeader { name } => {
                request.headers.remove(name);
                Ok(())
            }
        };
        debug_assert!(applied.is_ok(), "a checked edit was refused: {applied:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> wit::Header {
        wit::Header { name: name.into(), value: value.into() }
    }

    fn respond(status: u16, headers: Vec<wit::Header>) -> wit::Verdict {
        wit::Verdict::Respond(wit::Reply { status, reason: "Nope".into(), headers })
    }

    #[test]
    fn accepts_a_challenge() {
        let v = Verdict::check(respond(401, vec![header("www-authenticate", "Digest realm=\"x\"")])).unwrap();
        let Verdict::Respond(reply) = v else { panic!() };
        assert_eq!(reply.headers[0].name(), "WWW-Authenticate");
    }

    #[test]
    fn refuses_header_injection() {
        let err = Verdict::check(respond(403, vec![header("Warning", "a\r\nVia: SIP/2.0/UDP x")])).unwrap_err();
        assert_eq!(err, MalformedVerdict::BadHeaderValue("Warning".into()).into());
    }

    #[test]
    fn refuses_reserved_and_bad_names() {
        let edit = wit::Verdict::Continue(vec![wit::Edit::SetHeader(header("v", "SIP/2.0/UDP x"))]);
        assert_eq!(Verdict::check(edit).unwrap_err(), MalformedVerdict::ReservedHeader("Via".into()).into());
        let edit = wit::Verdict::Continue(vec![wit::Edit::AddHeader(header("Bad Name", "x"))]);
        assert!(matches!(Verdict::check(edit).unwrap_err(), Refusal::Malformed(MalformedVerdict::BadHeaderName(_))));
    }

    #[test]
    fn refuses_provisional_and_oversized() {
        assert_eq!(Verdict::check(respond(180, vec![])).unwrap_err(), MalformedVerdict::BadStatus(180).into());
        let many = (0..65).map(|i| header("X-A", &i.to_string())).collect();
        assert_eq!(Verdict::check(respond(403, many)).unwrap_err(), MalformedVerdict::TooManyItems(65).into());
        let big = vec![header("X-A", &"a".repeat(MAX_BYTES))];
        assert!(matches!(
            Verdict::check(respond(403, big)).unwrap_err(),
            Refusal::Malformed(MalformedVerdict::TooLarge(_))
        ));
    }

    #[test]
    fn refuses_bad_request_uri() {
        let edit = wit::Verdict::Continue(vec![wit::Edit::SetRequestUri("not a uri".into())]);
        assert!(matches!(Verdict::check(edit).unwrap_err(), Refusal::Malformed(MalformedVerdict::BadRequestUri(_))));
        let declined = wit::Verdict::Fail("directory down".into());
        assert_eq!(Verdict::check(declined).unwrap_err(), Refusal::Declined("directory down".into()));
    }
}
