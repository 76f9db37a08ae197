//! Reading name-addr header values (From, To, Contact, P-Asserted-Identity)
//! and the URIs in them the way every policy needs to, which is the way the
//! host reads them: these are the [`grammar`](crate::grammar)'s functions.

pub use sipwarden_grammar::{Address, split_list, unescape, uri_of};
