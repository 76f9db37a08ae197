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
    pub const INVITE: Method = Method(Cow::Borrowed("INVITE"));
    pub const ACK: Method = Method(Cow::Borrowed("ACK"));
    pub const BYE: Method = Method(Cow::Borrowed("BYE"));
    pub const CANCEL: Method = Method(Cow::Borrowed("CANCEL"));
    pub const REGISTER: Method = Method(Cow::Borrowed("REGISTER"));
    pub const OPTIONS: Method = Method(Cow::Borrowed("OPTIONS"));
    pub const MESSAGE: Method = Method(Cow::Borrowed("MESSAGE"));
    pub const SUBSCRIBE: Method = Method(Cow::Borrowed("SUBSCRIBE"));
    pub const NOTIFY: Method = Method(Cow::Borrowed("NOTIFY"));
    pub const PUBLISH: Method = Method(Cow::Borrowed("PUBLISH"));
    pub const INFO: Method = Method(Cow::Borrowed("INFO"));
    pub const PRACK: Method = Method(Cow::Borrowed("PRACK"));
    pub const UPDATE: Method = Method(Cow::Borrowed("UPDATE"));
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
