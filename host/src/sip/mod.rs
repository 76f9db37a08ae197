//! SIP messages: parsing, framing, editing and serialization.
//!
//! This is where the host reads SIP messages; the grammar of the values in
//! them (URIs, addresses, parameters, Digest, E.164) is `sipwarden_grammar`,
//! which the plugins read with too. It is a strict RFC 3261 parser
//! written against the RFC 4475 torture tests: it accepts what a proxy must
//! accept (extension methods, folded and compact headers, any URI scheme,
//! bare LF line ends) and refuses what a proxy must not pass on (malformed
//! start lines and Request-URIs, broken Via/From/To/Call-ID/CSeq, duplicated
//! single-value headers, inconsistent Content-Length). Headers the proxy does
//! not interpret are kept as text, in order, and forwarded untouched.
//!
//! - [`frame()`] cuts messages out of a stream; [`parse()`] reads one message.
//! - [`salvage_request_headers`] and [`Response::to_request_headers`] answer
//!   a request that failed to parse, when it can be answered.
//! - [`Headers`] stores names in canonical form ([`canonical_name`]), so `f:`
//!   and `From:` are the same header, and serializes them that way.

mod error;
mod framing;
mod headers;
mod lexer;
mod message;
mod method;
mod parse;
mod syntax;

#[cfg(test)]
mod rfc4475_tests;

pub use error::{FieldError, ParseError};
pub use framing::{Frame, frame};
pub use headers::{Header, Headers, canonical_name};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use parse::{parse, salvage_request_headers};
// The grammar of values (URIs, addresses, lists) is the one the plugins
// read SIP with: the SDK re-exports the same crate.
pub use sipwarden_grammar::{Address, ListError, SipUri, UriError, split_list, uri_of};

/// Whether `uri` may stand as a Request-URI (a policy's retarget is checked
/// with this before it is applied).
pub fn is_valid_request_uri(uri: &str) -> bool {
    syntax::check_uri(uri, false).is_ok()
}
