//! Reading name-addr header values (From, To, Contact, P-Asserted-Identity)
//! and the URIs in them the way every policy needs to, which is the way the
//! host reads them: these are the [`grammar`](crate::grammar)'s functions.

pub use sipwarden_grammar::{Address, split_list, unescape, uri_of};

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn escapes_decode_and_broken_ones_refuse() {
        assert_eq!(unescape("%61lice").as_deref(), Some("alice"));
        assert!(matches!(unescape("alice"), Some(Cow::Borrowed("alice"))));
        assert_eq!(unescape("%2B1%20555").as_deref(), Some("+1 555"));
        for broken in ["a%2", "a%+1", "a%zz", "%ff", "%"] {
            assert_eq!(unescape(broken), None, "{broken}");
        }
    }

    /// What `after_display_name` was for: the URI after a display name that
    /// holds `<`, `;` or escaped quotes.
    #[test]
    fn display_names_do_not_hide_the_uri() {
        assert_eq!(uri_of("\"Bob <x>; \\\"y\\\"\" <sip:bob@example.com>;tag=1"), Ok("sip:bob@example.com"));
        assert!(uri_of("\"unterminated <sip:bob@example.com>").is_err());
    }
}
