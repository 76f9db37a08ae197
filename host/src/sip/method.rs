//! The request method.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::error::{FieldError, excerpt};
use super::syntax::is_token;

/// A SIP request method.
///
/// Any token is a method (RFC 3261 §25.1, RFC 4475 §3.1.1.2): extension
/// methods must pass through a proxy untouched, so this is a validated string
/// rather than a closed enum. Comparison is case-sensitive, as the RFC
/// requires: `invite` is an extension method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Method(Cow<'static, str>);

impl Method {
    /// Starts a session (RFC 3261 §13).
    pub const INVITE: Method = Method(Cow::Borrowed("INVITE"));
    /// Acknowledges the final response to an INVITE (RFC 3261 §13.2.2.4,
    /// §17.1.1.3). It gets no response, and the policy chain does not see
    /// it: the INVITE was decided.
    pub const ACK: Method = Method(Cow::Borrowed("ACK"));
    /// Ends a session (RFC 3261 §15).
    pub const BYE: Method = Method(Cow::Borrowed("BYE"));
    /// Cancels an INVITE not yet answered (RFC 3261 §9, §16.10). The policy
    /// chain does not see it: the proxy answers it and cancels the INVITE's
    /// branches.
    pub const CANCEL: Method = Method(Cow::Borrowed("CANCEL"));
    /// Binds an address-of-record to contacts (RFC 3261 §10): the embedded
    /// [`Registrar`](crate::registrar::Registrar) answers it for its domains.
    pub const REGISTER: Method = Method(Cow::Borrowed("REGISTER"));
    /// Asks for capabilities (RFC 3261 §11), often as a keep-alive probe;
    /// the proxy answers one addressed to itself.
    pub const OPTIONS: Method = Method(Cow::Borrowed("OPTIONS"));
    /// Carries an instant message (RFC 3428).
    pub const MESSAGE: Method = Method(Cow::Borrowed("MESSAGE"));
    /// Asks for notifications of an event (RFC 6665).
    pub const SUBSCRIBE: Method = Method(Cow::Borrowed("SUBSCRIBE"));
    /// Delivers a notification of an event (RFC 6665).
    pub const NOTIFY: Method = Method(Cow::Borrowed("NOTIFY"));
    /// Publishes event state (RFC 3903).
    pub const PUBLISH: Method = Method(Cow::Borrowed("PUBLISH"));
    /// Carries application information within a dialog (RFC 6086).
    pub const INFO: Method = Method(Cow::Borrowed("INFO"));
    /// Acknowledges a reliable provisional response (RFC 3262).
    pub const PRACK: Method = Method(Cow::Borrowed("PRACK"));
    /// Changes session parameters without touching the dialog state,
    /// e.g. before the INVITE is answered (RFC 3311).
    pub const UPDATE: Method = Method(Cow::Borrowed("UPDATE"));
    /// Asks the recipient to contact a third party, as in a call transfer
    /// (RFC 3515).
    pub const REFER: Method = Method(Cow::Borrowed("REFER"));

    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Method {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if is_token(text) { Ok(Method(Cow::Owned(text.to_owned()))) } else { Err(FieldError::NotToken(excerpt(text))) }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_are_tokens_compared_case_sensitively() {
        let odd: Method = "!interesting-Method0123456789_*+`.%indeed'~".parse().unwrap();
        assert_eq!(odd.as_str(), "!interesting-Method0123456789_*+`.%indeed'~");
        assert_eq!("INVITE".parse::<Method>().unwrap(), Method::INVITE);
        assert_ne!("invite".parse::<Method>().unwrap(), Method::INVITE);
        assert!("IN VITE".parse::<Method>().is_err());
        assert!("".parse::<Method>().is_err());
    }
}
