//! Who a request claims to be and who was confirmed, read with the host's
//! own grammar (`sipwarden_sdk::grammar`): a `From`, `To` or
//! `P-Asserted-Identity` names the same user here as in the host's
//! registrar and digest checks, `sip:%61lice@example.com` is
//! `sip:alice@example.com` in both.
//!
//! Everything here reads text a request controls: no function panics, and
//! anything that does not parse is `None`, which the policy treats as "does
//! not match".

use sipwarden_sdk::grammar::{self, Uri};

/// The part of a URI that names a user, for comparing identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// A `sip:` or `sips:` URI: the user part and the host in the forms
    /// RFC 3261 §19.1.4 compares (the user case-sensitive, escapes of
    /// unreserved characters decoded, the others in upper-case hex; the
    /// host in lower case, IPv6 in one spelling), without port or
    /// parameters.
    Sip { user: String, host: String },
    /// A `tel:` URI: the number as RFC 3966 compares it (visual separators
    /// dropped, a local number with its phone-context).
    Tel(String),
}

impl Address {
    /// Parses one address of a `From`, `To` or `P-Asserted-Identity`
    /// value, in name-addr (`"Alice" <sip:alice@example.com>;tag=1`) or
    /// addr-spec (`sip:alice@example.com;tag=1`) form, as the host reads
    /// it. A SIP URI without a user part names no user and is `None`.
    pub(crate) fn parse(field: &str) -> Option<Address> {
        let uri = grammar::Address::parse(field).ok()?.uri();
        match Uri::parse(uri).ok()? {
            Uri::Sip(uri) => {
                let user = uri.canonical_user()?.into_owned();
                Some(Address::Sip { user, host: uri.canonical_host() })
            }
            Uri::Tel(uri) => Some(Address::Tel(uri.subscriber())),
            _ => None,
        }
    }

    /// `sip:anonymous@anonymous.invalid`, the From of a user who asked for
    /// privacy (RFC 3323 §4.1.1.3).
    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Address::Sip { user, host }
            if user.eq_ignore_ascii_case("anonymous") && host == "anonymous.invalid")
    }

    /// Whether this is a SIP address of `username`: its user part is the one
    /// [`escape_user`] writes for the username (in the canonical form, so
    /// `%61lice` is `alice`), which is the user part of the identity this
    /// policy asserts for it.
    pub(crate) fn names_user(&self, username: &str) -> bool {
        matches!(self, Address::Sip { user, .. } if *user == escape_user(username))
    }
}

/// A username as the user part of a SIP URI: characters outside
/// `unreserved` and `user-unreserved` (RFC 3261 §25.1) are escaped, in
/// upper-case hex, and so are `;` and `?`, which that grammar allows but
/// which many parsers read as the end of the user part. What it writes is
/// in the canonical form [`Address::parse`] compares.
pub(crate) fn escape_user(username: &str) -> String {
    let mut out = String::with_capacity(username.len());
    for byte in username.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwarden_sdk::split_list;

    fn sip(user: &str, host: &str) -> Option<Address> {
        Some(Address::Sip { user: user.into(), host: host.into() })
    }

    #[test]
    fn parses_name_addr_and_addr_spec() {
        assert_eq!(Address::parse("\"Alice\" <sip:alice@Example.COM>;tag=1"), sip("alice", "example.com"));
        assert_eq!(
            Address::parse("\"A <b>, c\" <sips:alice:pw@example.com:5061;transport=tls>"),
            sip("alice", "example.com")
        );
        assert_eq!(Address::parse("sip:alice@example.com;tag=1"), sip("alice", "example.com"));
        assert_eq!(Address::parse("<sip:%61lice@[2001:DB8::1]:5060>"), sip("alice", "[2001:db8::1]"));
        assert_eq!(Address::parse("<tel:+1-555-123-4567;phone-context=x>"), Some(Address::Tel("+15551234567".into())));
        for bad in [
            "",
            "<sip:example.com>",
            "<sip:@example.com>",
            "<sip:alice@>",
            "<mailto:a@b>",
            "<sip:a%2@b>",
            "<sip:a%+1@b>",
            "<sip:a@b",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
        assert!(
            Address::parse("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1").is_some_and(|a| a.is_anonymous())
        );
    }

    /// The host's reading, which these addresses now share: one user, one
    /// host, one number, however they are spelled.
    #[test]
    fn spellings_rfc_3261_calls_one_address_are_one() {
        for same in ["<sip:%61lice@EXAMPLE.com.>", "sip:al%69ce@example.com", "<sips:alice@example.com:5061>"] {
            assert_eq!(Address::parse(same), sip("alice", "example.com"), "{same}");
        }
        assert_eq!(Address::parse("<sip:bob@[2001:db8:0::1]>"), sip("bob", "[2001:db8::1]"));
        assert_eq!(Address::parse("<tel:+1.555.123.4567>"), Address::parse("<tel:+15551234567>"));
        assert_ne!(Address::parse("<sip:Alice@example.com>"), sip("alice", "example.com"));
        // A reserved character is not its escape (RFC 3261 §19.1.4).
        assert_ne!(Address::parse("<sip:%2B1@example.com>"), Address::parse("<sip:+1@example.com>"));
        // A local number is one only with its context.
        assert_ne!(
            Address::parse("<tel:1234;phone-context=a.example>"),
            Address::parse("<tel:1234;phone-context=b.example>")
        );
    }

    #[test]
    fn users_match_the_identity_asserted_for_them() {
        let claim = |text: &str| Address::parse(text).unwrap();
        assert!(claim("<sip:alice@example.com>").names_user("alice"));
        assert!(claim("<sip:%61lice@example.com>").names_user("alice"));
        assert!(claim("<sip:a%20b%40c@example.com>").names_user("a b@c"));
        assert!(claim("<sip:a%3bx@example.com>").names_user("a;x"));
        assert!(!claim("<sip:Alice@example.com>").names_user("alice"));
        assert!(!claim("<tel:+15551234567>").names_user("+15551234567"));
    }

    #[test]
    fn splits_lists_and_escapes_users() {
        assert_eq!(split_list("\"a, b\" <sip:a@x>, <tel:+1>").unwrap(), ["\"a, b\" <sip:a@x>", "<tel:+1>"]);
        // Empty elements are no longer skipped: RFC 3325's list has none,
        // and the host refuses them too (see GRAMMAR-NOTES.md).
        assert!(split_list(" , \"a\\\", b\" <sip:a@x>,,").is_err());
        assert_eq!(escape_user("a b@c+1;x?"), "a%20b%40c+1%3Bx%3F");
    }
}
