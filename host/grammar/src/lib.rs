//! # sipwarden-grammar: the one reading of SIP syntax
//!
//! The host and the policy plugins both read SIP: the host to parse and
//! route a message and to verify credentials, a plugin to decide on it. In a
//! security product two readings of one identity are a hole waiting to open
//! (a registrar that decodes `sip:%61lice@…` and a check that does not, a
//! verifier and a plugin that read different `realm`s from one header), so
//! both read SIP here. The host depends on this crate, and the plugin SDK
//! re-exports it: plugins and host agree by construction.
//!
//! What is here is the grammar of values: tokens and quoted strings, URIs
//! (`sip:`, `sips:`, `tel:`, and the syntax check every URI passes),
//! name-addr / addr-spec with their header parameters and the lists they
//! come in, Digest parameters, E.164 numbers, and the constant-time
//! comparison the credential checks need. The framing of a message (start
//! line, header fields, folding, Content-Length) is the host's parser's.
//!
//! Values reach this crate unfolded: one line, white space reduced to SP
//! and HT. A line break left in a value is refused, never taken for white
//! space.
//!
//! std only, no dependency: it builds for `wasm32-wasip2` as for the host.
//! Nothing here panics on any input, and every refusal is a typed error
//! whose `Display` text is safe in a reason phrase ([`excerpt`]).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod address;
mod compare;
mod digest;
mod e164;
mod excerpt;
mod params;
mod tel;
mod token;
mod uri;

pub use address::{Address, AddressError, ListError, split_list, uri_of};
pub use compare::constant_time_eq;
pub use digest::{DigestError, DigestParams};
pub use e164::{NumberError, normalize_e164};
pub use excerpt::excerpt;
pub use params::{ParamError, Params};
pub use tel::{TelError, TelUri};
pub use token::{QuotedError, is_token, is_token_char, quote, quoted_string, unquote};
pub use uri::{HostPort, SipUri, Uri, UriError, UriPart, aor_of, canonical_host, check_uri, target_uri, unescape};

/// The URIs and errors cross threads in the host (a routing decision on a
/// blocking thread, an upstream URI in shared configuration).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SipUri<'static>>();
    assert_send_sync::<Uri<'static>>();
    assert_send_sync::<UriError>();
    assert_send_sync::<AddressError>();
    assert_send_sync::<DigestError>();
    assert_send_sync::<NumberError>();
};
