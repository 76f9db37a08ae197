//! Why a REGISTER is refused, and the response that says so.

use thiserror::Error;

use crate::sip::{Request, Response};

/// A refused REGISTER. A rejection changes no binding: every check runs
/// before the change is committed (RFC 3261 §10.3: updates are made visible
/// only if all of them succeed).
///
/// The `Display` text is the reason phrase; it never echoes the request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(super) enum Rejection {
    /// The registrar was handed something other than a REGISTER.
    #[error("Method Not Allowed")]
    NotRegister,
    /// Require lists extensions the registrar does not implement (RFC 3261 §8.2.2.3).
    #[error("Bad Extension")]
    BadExtension { unsupported: Vec<String> },
    /// A header the registrar reads does not follow the grammar.
    #[error("Bad {header}: {reason}")]
    Malformed { header: &'static str, reason: String },
    /// The To URI is not an address-of-record of a domain served here.
    #[error("Not Found")]
    NotServed,
    /// A binding would expire sooner than the configured minimum.
    #[error("Interval Too Brief")]
    IntervalTooBrief { min_expires: u32 },
    /// RFC 5626 §6: the UA asks for outbound, but the edge proxy in front of
    /// the registrar did not mark its Path entry as an outbound flow.
    #[error("First Hop Lacks Outbound Support")]
    FirstHopLacksOutbound,
    /// RFC 3261 §10.3 steps 6 and 7: a request of the same registration
    /// (Call-ID) that is not newer than the one that last changed the binding.
    #[error("Out of Order: CSeq {received} is not above {stored} for this Call-ID")]
    OutOfOrder { received: u32, stored: u32 },
    /// The request would give the address-of-record more bindings than allowed.
    #[error("Too Many Registrations")]
    TooManyBindings,
    /// The granted interval cannot be represented as an instant on this clock.
    #[error("Expiry Out of Range")]
    ExpiryOutOfRange,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::NotRegister => 405,
            Rejection::BadExtension { .. } => 420,
            Rejection::Malformed { .. } => 400,
            Rejection::NotServed => 404,
            Rejection::IntervalTooBrief { .. } => 423,
            Rejection::FirstHopLacksOutbound => 439,
            Rejection::OutOfOrder { .. } | Rejection::ExpiryOutOfRange => 500,
            Rejection::TooManyBindings => 403,
        }
    }

    /// The response to `request`, with the header that tells the UA how to
    /// retry where the status code calls for one.
    pub fn response(&self, request: &Request) -> Response {
        let mut response = Response::to_request(request, self.status(), &self.to_string());
        match self {
            Rejection::NotRegister => super::add_header(&mut response, "Allow", "REGISTER".to_owned()),
            Rejection::BadExtension { unsupported } => {
                super::add_header(&mut response, "Unsupported", unsupported.join(", "));
            }
            Rejection::IntervalTooBrief { min_expires } => {
                super::add_header(&mut response, "Min-Expires", min_expires.to_string());
            }
            _ => {}
        }
        response
    }
}
