//! Error types. Their `Display` text is written for a SIP operator and is
//! safe to use as a reason phrase: anything echoed from the wire goes through
//! [`excerpt`], so it never contains a line break or other control character.

use thiserror::Error;

/// Untrusted text quoted for an error message: the grammar's, which the
/// plugins quote with too.
pub(crate) use sipwarden_grammar::excerpt;

/// Why a message could not be parsed or framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but line breaks (or nothing at all) was received.
    #[error("the message is empty")]
    Empty,
    /// The message, or what the stream declared of it, exceeds the caller's limit.
    #[error("the message exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The caller's limit, in bytes.
        limit: usize,
    },
    /// No empty line ends the header section.
    #[error("the header section does not end with an empty line")]
    Unterminated,
    /// A line of the start line or header section is not UTF-8 (the body may be anything).
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 {
        /// The line number, from 1 for the start line (line breaks before
        /// the message are not counted).
        line: usize,
    },
    /// A line of the header section cannot be read as `name: value`.
    #[error("line {line} is malformed: {reason}")]
    BadLine {
        /// The line number, counted as for [`ParseError::NotUtf8`].
        line: usize,
        /// What is wrong with the line, e.g. `no colon after the header name`.
        reason: &'static str,
    },
    /// The request line or status line does not follow the SIP grammar.
    #[error("malformed start line: {0}")]
    BadStartLine(String),
    /// The start line names a SIP version other than 2.0 (answer 505).
    #[error("SIP version {0} is not supported")]
    UnsupportedVersion(String),
    /// The Request-URI does not follow the URI grammar.
    #[error("malformed Request-URI: {0}")]
    BadRequestUri(String),
    /// One of the headers every request and response carries is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that may occur once occurs more than once.
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// A header the parser checks (Via, From, To, Call-ID, CSeq, Max-Forwards,
    /// Content-Length) has a malformed value.
    #[error("malformed {name} header: {reason}")]
    BadHeader {
        /// The header's canonical name, e.g. `CSeq`.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// Content-Length declares more body than arrived in the datagram.
    #[error("Content-Length is {declared} but only {available} bytes of body arrived")]
    Truncated {
        /// The body length Content-Length declares, in bytes.
        declared: usize,
        /// The bytes of body the datagram holds.
        available: usize,
    },
}

impl ParseError {
    /// The status code a server answers this error with, where it answers at
    /// all (RFC 3261 §8.2.2, §21.5.14; RFC 4475 §3.1.2.16): a request that
    /// failed to parse is never forwarded, and an unparsable response is dropped.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::UnsupportedVersion(_) => 505,
            Self::TooLarge { .. } => 513,
            _ => 400,
        }
    }

    pub(crate) fn header(name: &'static str, reason: impl Into<String>) -> Self {
        Self::BadHeader { name, reason: reason.into() }
    }
}

/// Why a value given to a builder method was refused. These checks keep a
/// message built or edited in the host serializable: a header value holding a
/// line break would otherwise inject headers into the message sent on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FieldError {
    /// Methods and header names must be RFC 3261 tokens.
    #[error("{0} is not a SIP token")]
    NotToken(String),
    /// Header values are single lines.
    #[error("the value of header {0} contains a line break")]
    LineBreak(String),
}
