//! Property tests over generated URIs, name-addrs, lists, Digest values and
//! numbers: what is written is read back, every spelling RFC 3261 calls one
//! URI compares as one, white space where the grammar allows it changes
//! nothing, and a line break nobody unfolded is never read as white space.

use std::net::Ipv6Addr;

use proptest::prelude::*;
use sipwarden_grammar::{
    Address, DigestError, DigestParams, SipUri, TelUri, normalize_e164, quote, quoted_string, split_list, unescape,
    unquote,
};

/// Writes each character of `text` as a `%HH` escape where `escape` says so,
/// in upper- or lower-case hex as `upper` says.
fn escaped(text: &str, escape: &[bool], upper: &[bool]) -> String {
    text.bytes()
        .enumerate()
        .map(|(i, b)| {
            if escape.get(i).copied().unwrap_or(false) {
                if upper.get(i).copied().unwrap_or(true) { format!("%{b:02X}") } else { format!("%{b:02x}") }
            } else {
                char::from(b).to_string()
            }
        })
        .collect()
}

/// `text` with the case of each ASCII letter flipped where `flip` says so.
fn recased(text: &str, flip: &[bool]) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if flip.get(i).copied().unwrap_or(false) { flip_case(c) } else { c })
        .collect()
}

fn flip_case(c: char) -> char {
    if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() }
}

fn flips() -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(any::<bool>(), 64)
}

/// A user part of unreserved characters only (every one may be escaped
/// without changing the user).
fn unreserved_user() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.!~*'()-]{1,12}"
}

/// A user part with the reserved characters a SIP user part may hold
/// unescaped (RFC 3261 `user-unreserved`).
fn user() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}".prop_filter("no empty user", |u| !u.is_empty())
}

/// A host: a name of 1–4 labels, an IPv4 address or an IPv6 reference.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", 1..4).prop_map(|labels| labels.join(".")),
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|segments| format!("[{}]", Ipv6Addr::from(segments))),
    ]
}

fn param_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,5}"
}

/// `;name[=value]` URI parameters, names distinct.
fn uri_params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    prop::collection::vec((param_name(), prop::option::of("[a-zA-Z0-9_.~-]{1,6}")), 0..4).prop_map(|params| {
        let mut distinct: Vec<(String, Option<String>)> = Vec::new();
        for (name, value) in params {
            if distinct.iter().all(|(seen, _)| *seen != name) {
                distinct.push((name, value));
            }
        }
        distinct
    })
}

/// The parts of a SIP URI, to write in several spellings.
#[derive(Clone, Debug)]
struct Parts {
    secure: bool,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
    headers: Vec<(String, String)>,
}

impl Parts {
    fn write(&self, scheme_flips: &[bool], host_flips: &[bool]) -> String {
        let scheme = recased(if self.secure { "sips" } else { "sip" }, scheme_flips);
        let mut out = format!("{scheme}:");
        if let Some(user) = &self.user {
            out.push_str(user);
            if let Some(password) = &self.password {
                out.push(':');
                out.push_str(password);
            }
            out.push('@');
        }
        out.push_str(&recased(&self.host, host_flips));
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            if let Some(value) = value {
                out.push('=');
                out.push_str(value);
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&format!("{name}={value}"));
        }
        out
    }
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        any::<bool>(),
        prop::option::of((user(), prop::option::of("[a-zA-Z0-9&=+$,]{0,6}"))),
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
        prop::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,5}", "[a-zA-Z0-9%:/]{0,6}"), 0..3),
    )
        .prop_map(|(secure, userinfo, host, port, params, headers)| {
            let headers = headers.into_iter().filter(|(_, value)| !value.contains('%')).collect();
            let (user, password) = match userinfo {
                Some((user, password)) => (Some(user), password),
                None => (None, None),
            };
            Parts { secure, user, password, host, port, params, headers }
        })
}

/// White space: none, or a few spaces and tabs.
fn ws() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

proptest! {
    /// What is written is read back, part by part, and reading the text the
    /// URI hands out gives that text again.
    #[test]
    fn sip_uris_round_trip(parts in parts(), scheme_flips in flips(), host_flips in flips()) {
        let text = parts.write(&scheme_flips, &host_flips);
        let uri = SipUri::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        prop_assert_eq!(uri.is_secure(), parts.secure);
        prop_assert_eq!(uri.user(), parts.user.as_deref());
        prop_assert_eq!(uri.password(), parts.user.as_ref().and(parts.password.as_deref()));
        prop_assert_eq!(uri.host(), parts.host.to_ascii_lowercase());
        prop_assert_eq!(uri.port(), parts.port);
        let params: Vec<(String, Option<String>)> =
            uri.params().map(|(name, value)| (name.to_owned(), value.map(str::to_owned))).collect();
        prop_assert_eq!(&params, &parts.params);
        for (name, value) in &parts.params {
            prop_assert_eq!(uri.param(&name.to_ascii_uppercase()), Some(value.as_deref().unwrap_or("")));
        }
        let headers: Vec<(String, String)> =
            uri.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
        prop_assert_eq!(&headers, &parts.headers);
        let again = SipUri::parse(uri.as_str()).unwrap();
        prop_assert_eq!(again.as_str(), uri.as_str());
        prop_assert_eq!(again.to_string(), uri.to_string());
        prop_assert!(again.same_target(&uri));
    }

    /// `%61lice` is `alice`: escaping unreserved characters of the user, in
    /// either hex case, and changing the case of scheme and host change
    /// neither the target, nor the address-of-record, nor the binding key.
    #[test]
    fn escapes_and_case_name_the_same_uri(
        user in unreserved_user(),
        mut parts in parts(),
        escape in flips(),
        upper in flips(),
        scheme_flips in flips(),
        host_flips in flips(),
    ) {
        parts.user = Some(user.clone());
        let plain = parts.write(&[], &[]);
        parts.user = Some(escaped(&user, &escape, &upper));
        let spelled = parts.write(&scheme_flips, &host_flips);
        let (a, b) = (SipUri::parse(&plain).unwrap(), SipUri::parse(&spelled).unwrap());
        prop_assert!(a.same_target(&b), "{} / {}", plain, spelled);
        prop_assert_eq!(a.aor(), b.aor());
        prop_assert_eq!(a.binding_key(), b.binding_key());
        prop_assert_eq!(a.canonical_user(), b.canonical_user());
        let canonical = b.canonical_user().map(|user| user.into_owned());
        prop_assert_eq!(canonical.as_deref(), Some(user.as_str()));
        let unescaped = unescape(b.user().unwrap_or_default()).map(|user| user.into_owned());
        prop_assert_eq!(unescaped.as_deref(), Some(user.as_str()));
    }

    /// The user part is case-sensitive, and a reserved character is not its
    /// escape (RFC 3261 §19.1.4).
    #[test]
    fn users_that_differ_stay_apart(user in "[a-z]{1,8}", at in 0usize..8, parts in parts()) {
        let mut other = user.clone().into_bytes();
        let at = at % other.len();
        other[at] = other[at].to_ascii_uppercase();
        let other = String::from_utf8(other).unwrap();
        let with = |user: &str| Parts { user: Some(user.to_owned()), ..parts.clone() }.write(&[], &[]);
        let (lower, upper) = (with(&user), with(&other));
        let (a, b) = (SipUri::parse(&lower).unwrap(), SipUri::parse(&upper).unwrap());
        prop_assert!(!a.same_target(&b));
        prop_assert_ne!(a.aor(), b.aor());
        let (plus, escaped_plus) = (with(&format!("+{user}")), with(&format!("%2B{user}")));
        let (a, b) = (SipUri::parse(&plus).unwrap(), SipUri::parse(&escaped_plus).unwrap());
        prop_assert!(!a.same_target(&b));
    }

    /// A name-addr or addr-spec with white space wherever the grammar allows
    /// it (before `<`, after `>`, around `;` and `=`) reads as written, and
    /// the unchecked split agrees with the full reading.
    #[test]
    fn addresses_round_trip(
        parts in parts(),
        display in prop_oneof![
            Just(None),
            prop::collection::vec("[a-zA-Z0-9.!%*_+`'~-]{1,6}", 1..3).prop_map(|w| Some((w.join(" "), false))),
            "[ -~\u{e9}\u{442}]{0,12}".prop_map(|text| Some((text, true))),
        ],
        header_params in prop::collection::vec(
            (param_name(), prop::option::of(prop_oneof!["[a-zA-Z0-9.-]{1,6}", "[ -~]{0,8}".prop_map(|v| quote(&v).unwrap())])),
            0..4,
        ),
        spaces in prop::collection::vec(ws(), 12),
        brackets in any::<bool>(),
    ) {
        let uri = parts.write(&[], &[]);
        // An addr-spec's URI holds no `;`, `?` or `,` (RFC 3261 §20.10).
        let bracketed = brackets || display.is_some() || uri.contains([';', '?', ',']);
        let mut text = spaces[0].clone();
        let written_display = display.as_ref().map(|(name, quoted)| if *quoted { quote(name).unwrap() } else { name.clone() });
        if let Some(name) = &written_display {
            text.push_str(name);
            text.push_str(&spaces[1]);
        }
        if bracketed {
            text.push_str(&format!("<{uri}>"));
        } else {
            text.push_str(&uri);
        }
        for (i, (name, value)) in header_params.iter().enumerate() {
            let s = |k: usize| spaces[(2 + 3 * i + k) % spaces.len()].as_str();
            text.push_str(&format!("{};{}{name}", s(0), s(1)));
            if let Some(value) = value {
                text.push_str(&format!("{}={}{value}", s(2), s(1)));
            }
        }
        text.push_str(&spaces[11]);

        let address = Address::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        prop_assert_eq!(address.uri(), uri.as_str());
        prop_assert_eq!(address.is_name_addr(), bracketed);
        let expected_display = display.map(|(name, _)| name).filter(|name| !name.is_empty());
        prop_assert_eq!(address.display_name().map(|name| name.into_owned()), expected_display);
        let params: Vec<(&str, Option<&str>)> = address.params().iter().collect();
        let expected: Vec<(&str, Option<&str>)> =
            header_params.iter().map(|(name, value)| (name.as_str(), value.as_deref())).collect();
        prop_assert_eq!(params, expected);
        prop_assert_eq!(Address::split(&text), Ok(address));
    }

    /// A list splits into exactly its elements, whatever commas their
    /// quoted display names, quoted parameter values and bracketed URIs
    /// hold, and whatever white space surrounds the separating commas.
    #[test]
    fn lists_split_only_between_elements(
        elements in prop::collection::vec(
            (
                "[ -~]{0,10}".prop_map(|name| quote(&name).unwrap()),
                "[a-z,;?]{1,6}",
                "[ -~]{0,8}".prop_map(|value| quote(&value).unwrap()),
            )
                .prop_map(|(display, user, value)| format!("{display} <sip:{user}@example.com>;p={value}")),
            1..5,
        ),
        spaces in prop::collection::vec(ws(), 10),
    ) {
        let mut text = String::new();
        for (i, element) in elements.iter().enumerate() {
            if i > 0 {
                text.push_str(&format!("{},{}", spaces[i % 10], spaces[(i + 5) % 10]));
            }
            text.push_str(element);
        }
        let split = split_list(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        prop_assert_eq!(&split, &elements);
        for element in split {
            prop_assert!(Address::parse(element).is_ok(), "{}", element);
        }
    }

    /// A line break is never white space: a value folded at any of its
    /// white-space points and not unfolded is refused, not read differently.
    #[test]
    fn unfolded_line_breaks_are_refused(
        parts in parts(),
        name in "[ -~]{0,8}",
        at in any::<prop::sample::Index>(),
        fold in prop_oneof![Just("\r\n "), Just("\r\n\t"), Just("\n "), Just("\r\n")],
    ) {
        let value = format!("{} <{}> ; tag = x ; p = \"v\"", quote(&name).unwrap(), parts.write(&[], &[]));
        let points: Vec<usize> = value.match_indices(' ').map(|(i, _)| i).collect();
        let point = points[at.index(points.len())];
        let folded = format!("{}{fold}{}", &value[..point], &value[point + 1..]);
        prop_assert!(Address::parse(&folded).is_err(), "{:?}", folded);
        let digest = format!("Digest username={},{fold}realm=x", quote(&name).unwrap());
        prop_assert!(DigestParams::parse(&digest).is_err(), "{:?}", digest);
    }

    /// Quoting and unquoting are inverse, for any text a quoted string can
    /// carry.
    #[test]
    fn quoted_strings_round_trip(text in "[^\r\n\u{80}-\u{9f}]{0,24}") {
        let quoted = quote(&text).unwrap();
        prop_assert_eq!(quoted_string(&quoted), Ok((quoted.as_str(), "")));
        prop_assert_eq!(unquote(&quoted), text.as_str());
    }

    /// Digest parameters read back, names in any case, values quoted or
    /// not, with white space around `=` and `,`; a repeated name refuses
    /// the whole value.
    #[test]
    fn digest_parameters_round_trip(
        scheme_flips in flips(),
        params in prop::collection::btree_map(
            "[a-z][a-z0-9-]{0,8}",
            prop_oneof![
                "[a-zA-Z0-9.!%*_+`'~-]{1,10}".prop_map(|v| (v, false)),
                "[ -~]{0,12}".prop_map(|v| (v, true)),
            ],
            1..6,
        ),
        spaces in prop::collection::vec(ws(), 8),
        duplicate in any::<prop::sample::Index>(),
    ) {
        let mut text = format!("{} ", recased("Digest", &scheme_flips));
        for (i, (name, (value, quoted))) in params.iter().enumerate() {
            if i > 0 {
                text.push_str(&format!("{},{}", spaces[i % 8], spaces[(i + 3) % 8]));
            }
            let written = if *quoted { quote(value).unwrap() } else { value.clone() };
            text.push_str(&format!("{name}{}={}{written}", spaces[(i + 1) % 8], spaces[(i + 2) % 8]));
        }
        let parsed = DigestParams::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        for (name, (value, _)) in &params {
            prop_assert_eq!(parsed.get(&name.to_ascii_uppercase()), Some(value.as_str()));
        }
        let (name, _) = params.iter().nth(duplicate.index(params.len())).unwrap();
        let twice = format!("{text}, {}=x", name.to_ascii_uppercase());
        prop_assert_eq!(DigestParams::parse(&twice).unwrap_err(), DigestError::Duplicate);
    }

    /// Normalizing is idempotent, and what it gives is E.164.
    #[test]
    fn normalize_e164_is_idempotent(
        input in prop_oneof![
            "[+]?[0-9 ().-]{0,20}",
            "(tel|TEL):[+]?[0-9().-]{0,18}(;[a-z-]{1,13}(=[+]?[0-9a-z.-]{0,8})?){0,3}",
            "[ -~]{0,24}",
        ],
    ) {
        if let Ok(number) = normalize_e164(&input) {
            prop_assert_eq!(normalize_e164(&number), Ok(number.clone()));
            prop_assert!(number.len() >= 2 && number.len() <= 16, "{}", number);
            prop_assert!(number.starts_with('+') && !number.starts_with("+0"), "{}", number);
            prop_assert!(number[1..].bytes().all(|b| b.is_ascii_digit()), "{}", number);
        }
    }

    /// Every spelling of one number, typed or in a `tel:` URI, global or a
    /// local number with its global phone-context, normalizes to the same
    /// E.164 number, which is also what the `tel:` URI reading compares.
    #[test]
    fn spellings_of_one_number_agree(
        digits in "[1-9][0-9]{0,14}",
        separators in prop::collection::vec(prop::sample::select(vec!["", "", "", "-", ".", "(", ")"]), 16),
        spaces in prop::collection::vec(prop::sample::select(vec!["", "", " "]), 16),
        split in any::<prop::sample::Index>(),
    ) {
        let spell = |digits: &str, with_spaces: bool| -> String {
            digits
                .chars()
                .enumerate()
                .map(|(i, c)| format!("{c}{}{}", separators[i], if with_spaces { spaces[i] } else { "" }))
                .collect()
        };
        let e164 = format!("+{digits}");
        prop_assert_eq!(normalize_e164(&format!("+{}", spell(&digits, true))), Ok(e164.clone()));
        let tel = format!("tel:+{}", spell(&digits, false));
        prop_assert_eq!(normalize_e164(&tel), Ok(e164.clone()));
        prop_assert_eq!(TelUri::parse(&tel).map(|uri| uri.subscriber()), Ok(e164.clone()));
        // A local number completed by its phone-context.
        let at = 1 + split.index(digits.len());
        if at < digits.len() {
            let local = format!("tel:{};phone-context=+{}", spell(&digits[at..], false), &digits[..at]);
            prop_assert_eq!(normalize_e164(&local), Ok(e164));
        }
        // A space is a visual separator only outside a URI.
        let spaced = format!("tel:+ {digits}");
        prop_assert!(normalize_e164(&spaced).is_err());
    }

    /// Where the `tel:` reading accepts a URI without `ext` or `isub`, the
    /// E.164 reader gives the number the `tel:` reading compares, or says
    /// why it has no E.164 form; never a different number.
    #[test]
    fn tel_reading_and_normalizing_agree(
        input in "(tel|TEL):[+]?[0-9a-f().*#-]{1,18}(;(phone-context|[a-z-]{1,8})(=[+]?[0-9a-z.-]{1,8})?){0,3}",
    ) {
        if let Ok(tel) = TelUri::parse(&input) {
            prop_assume!(tel.param("ext").is_none() && tel.param("isub").is_none());
            match normalize_e164(&input) {
                Ok(number) if tel.is_global() => prop_assert_eq!(number, tel.subscriber()),
                Ok(number) => {
                    let context = tel.phone_context().unwrap_or_default();
                    let digits = |text: &str| -> String { text.chars().filter(char::is_ascii_digit).collect() };
                    prop_assert_eq!(number, format!("+{}{}", digits(context), digits(tel.number())));
                }
                Err(error) => prop_assert!(
                    matches!(
                        error,
                        sipwarden_grammar::NumberError::TooLong(_)
                            | sipwarden_grammar::NumberError::LeadingZero
                            | sipwarden_grammar::NumberError::DomainContext
                            | sipwarden_grammar::NumberError::InvalidCharacter(_)
                    ),
                    "{}: {:?}", input, error
                ),
            }
        }
    }

    /// No reader panics, whatever it is given.
    #[test]
    fn nothing_panics(text in "\\PC{0,40}|[ -~]{0,40}|[<>\";,=@:%\\\\ a-z]{0,40}") {
        let _ = SipUri::parse(&text).map(|uri| (uri.aor(), uri.binding_key(), uri.ip()));
        let _ = sipwarden_grammar::Uri::parse(&text).map(|uri| uri.binding_key());
        let _ = sipwarden_grammar::check_uri(&text, false);
        let _ = sipwarden_grammar::aor_of(&text);
        let _ = Address::parse(&text);
        let _ = Address::split(&text).map(|a| (a.display_name(), a.params().iter().count()));
        let _ = split_list(&text);
        let _ = DigestParams::parse(&text);
        let _ = TelUri::parse(&text).map(|uri| uri.subscriber());
        let _ = normalize_e164(&text);
        let _ = unescape(&text);
        let _ = quoted_string(&text).map(|(quoted, _)| unquote(quoted));
        let _ = sipwarden_grammar::Params::parse(&text);
        let _ = sipwarden_grammar::HostPort::parse(&text);
    }
}
