//! Constructors for verdicts and edits, so that a policy reads like the rule
//! it implements.

use crate::{Edit, Header, Reply, Verdict};

impl Verdict {
    /// Let the request continue unchanged.
    pub fn pass() -> Self {
        Verdict::Continue(Vec::new())
    }

    /// Let the request continue with these edits.
    pub fn pass_with(edits: Vec<Edit>) -> Self {
        Verdict::Continue(edits)
    }

    /// Answer the request with a status and reason phrase.
    pub fn reject(status: u16, reason: impl Into<String>) -> Self {
        Verdict::Respond(Reply { status, reason: reason.into(), headers: Vec::new() })
    }

    /// Say the policy cannot decide (a capability it needs is unavailable):
    /// the host applies the failure policy of the plugin's manifest and logs
    /// `reason`.
    pub fn fail(reason: impl Into<String>) -> Self {
        Verdict::Fail(reason.into())
    }

    /// Answer the request with a status, reason phrase and headers.
    pub fn respond(status: u16, reason: impl Into<String>, headers: Vec<Header>) -> Self {
        Verdict::Respond(Reply { status, reason: reason.into(), headers })
    }
}

impl Header {
    /// A header field.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header { name: name.into(), value: value.into() }
    }
}

impl Edit {
    /// Replace the Request-URI.
    pub fn request_uri(uri: impl Into<String>) -> Self {
        Edit::SetRequestUri(uri.into())
    }

    /// Append a header value.
    pub fn add(name: impl Into<String>, value: impl Into<String>) -> Self {
        Edit::AddHeader(Header::new(name, value))
    }

    /// Replace every value of a header.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        Edit::SetHeader(Header::new(name, value))
    }

    /// Remove every value of a header.
    pub fn remove(name: impl Into<String>) -> Self {
        Edit::RemoveHeader(name.into())
    }
}
