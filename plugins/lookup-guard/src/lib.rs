//! lookup-guard: telephone numbers reach a user only through a unique
//! look-up (OMA Instant Messaging SEC-2).
//!
//! > **SEC-2** An E.164 number SHALL NOT be added to a contact list without a
//! > unique look-up for a User ID. A user MAY start an IM session to a number
//! > from the phonebook; then the network, not the device, does the look-up.
//!
//! The policy guards two kinds of request addressed to a telephone number:
//!
//! * **Adding a contact**: a presence `SUBSCRIBE` (`Event: presence`), and
//!   every request whose method is listed in `contact-methods` (a `PUBLISH`,
//!   a list-update method of a deployment without XCAP).
//! * **Starting a session**: the methods in `session-methods` (`MESSAGE` and
//!   `INVITE`). The device sends the number as dialled; the network looks it
//!   up, without asking the user.
//!
//! A Request-URI designates a telephone number when it is a `tel:` URI, a
//! `sip:`/`sips:` URI with `user=phone`, or a `sip:`/`sips:` URI whose user
//! part is a global number (`+` and digits with visual separators). The
//! policy only decides that; it hands the number to the host's directory as
//! a `tel:` URI (a SIP user part is a telephone-subscriber, RFC 3261
//! §19.1.6, its escapes decoded), and the host normalizes it to E.164 with
//! the one reader of numbers (`sipwarden_grammar::normalize_e164`: visual
//! separators `-.()` dropped, a local number completed by a global-number
//! `phone-context`, no space inside a `tel:` number) before looking it up:
//!
//! | directory answer             | reply                                          |
//! |------------------------------|------------------------------------------------|
//! | exactly one User ID          | continue, the Request-URI set to that User ID  |
//! | none                         | 404 `Number Not Found`                         |
//! | several                      | 485 `Ambiguous`                                |
//! | the number is malformed      | 484 `Address Incomplete: <the host's reason>`  |
//! | the directory is unavailable | `fail`: the manifest's failure policy answers  |
//!
//! Several User IDs are refused for contacts *and* sessions: SEC-2 permits a
//! contact only after a *unique* look-up, and a session must reach the one
//! user the sender meant (forking a message to every owner of a number would
//! deliver it to people the sender never chose). The 485 carries no list of
//! candidates (RFC 3261 §21.4.23 allows one): it would tell the sender who
//! else owns the number.
//!
//! A User ID is a valid `sip:` or `sips:` URI; other entries of a directory
//! answer (a `tel:` alias) are not users and are left out, and a User ID listed
//! twice counts once. A request addressed with `sips:` keeps its demand for
//! TLS to the end (RFC 3261 §19.1): a `sip:` User ID becomes `sips:`.
//!
//! Requests inside a dialog (their `To` has a tag) pass untouched: their
//! Request-URI is the remote target that the dialog's initial request, which
//! this policy decided, established, and retargeting it would break the
//! dialog. A forged tag reaches no dialog (the UAS answers 481), so it adds
//! no contact. Requests of other methods, and requests whose target is not a
//! telephone number, pass untouched too.
//!
//! Configuration (the manifest's `[config]` table), with the defaults:
//!
//! ```toml
//! [config]
//! contact-methods = []                    # methods that add a contact, besides a presence SUBSCRIBE
//! session-methods = ["MESSAGE", "INVITE"] # methods that start a session
//! ```
//!
//! Grant the `directory` capability (and `log`, for the debug lines that
//! explain each refusal; a retargeting shows in the host's own debug line
//! of the plugin's edits). Security policy: fail closed; a `503` tells the
//! client to retry once the directory is back.

use std::fmt;

use serde::Deserialize;
use sipwarden_sdk::directory::{self, LookupError};
use sipwarden_sdk::grammar::{UriError, normalize_e164};
use sipwarden_sdk::{Edit, Policy, Request, SipUri, Verdict, debug, export_policy, is_token, unescape, warn};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default)]
    contact_methods: Vec<String>,
    #[serde(default = "default_session_methods")]
    session_methods: Vec<String>,
}

fn default_session_methods() -> Vec<String> {
    ["MESSAGE", "INVITE"].map(String::from).to_vec()
}

/// Why a request is guarded.
#[derive(Clone, Copy)]
enum Purpose {
    AddContact,
    StartSession,
}

impl Purpose {
    fn describe(self) -> &'static str {
        match self {
            Purpose::AddContact => "contact",
            Purpose::StartSession => "session",
        }
    }
}

struct LookupGuard {
    contact_methods: Vec<String>,
    session_methods: Vec<String>,
}

impl Policy for LookupGuard {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        for method in config.contact_methods.iter().chain(&config.session_methods) {
            if !is_token(method) {
                return Err(format!("{method:?} is not a SIP method name"));
            }
        }
        if let Some(both) = config.contact_methods.iter().find(|m| config.session_methods.contains(m)) {
            return Err(format!("{both} is listed in both contact-methods and session-methods"));
        }
        Ok(LookupGuard { contact_methods: config.contact_methods, session_methods: config.session_methods })
    }

    fn decide(&self, req: &Request) -> Verdict {
        // Most requests are not addressed to a number: find that out first,
        // with one question to the host.
        let uri = req.uri();
        let target = target(&uri);
        if let Target::NotANumber = target {
            return Verdict::pass();
        }
        let Some(purpose) = self.purpose(req) else {
            return Verdict::pass();
        };
        if req.in_dialog() {
            return Verdict::pass();
        }
        match target {
            Target::NotANumber => Verdict::pass(),
            Target::Malformed(problem) => address_incomplete(&problem.to_string()),
            Target::Number(number) => look_up(purpose, &uri, &number),
        }
    }
}

impl LookupGuard {
    /// SEC-2 guards requests that add a contact and requests that start a
    /// session; nothing else.
    fn purpose(&self, req: &Request) -> Option<Purpose> {
        let method = req.method();
        if self.contact_methods.contains(&method) || (method == "SUBSCRIBE" && is_presence(req)) {
            Some(Purpose::AddContact)
        } else if self.session_methods.contains(&method) {
            Some(Purpose::StartSession)
        } else {
            None
        }
    }
}

/// A subscription to the presence event package (RFC 3856): the way a
/// contact enters a contact list.
fn is_presence(req: &Request) -> bool {
    req.header("Event").is_some_and(|event| {
        let package = event.split(';').next().unwrap_or_default().trim();
        package.eq_ignore_ascii_case("presence")
    })
}

/// The unique look-up: one User ID retargets the request; none or several
/// refuse it. `number` is the `tel:` URI the target names, as written: the
/// host normalizes what its directory is asked.
fn look_up(purpose: Purpose, uri: &str, number: &str) -> Verdict {
    let found = match directory::lookup(number) {
        Ok(found) => found,
        Err(LookupError::InvalidNumber(problem)) => return address_incomplete(&problem),
        Err(LookupError::Unavailable(why)) => return Verdict::fail(format!("directory unavailable: {why}")),
    };
    let users = user_ids(number, found);
    let count = users.len();
    match users.into_iter().next() {
        // The host logs the retargeting edit (at debug level, with the
        // plugin's name): a line of ours would cost a host call per request.
        Some(user) if count == 1 => Verdict::pass_with(vec![Edit::request_uri(keep_sips(uri, user))]),
        None => {
            debug!("{} to {}: no user has this number", purpose.describe(), e164(number));
            Verdict::reject(404, "Number Not Found")
        }
        Some(_) => {
            debug!("{} to {}: {count} users share this number", purpose.describe(), e164(number));
            Verdict::reject(485, "Ambiguous")
        }
    }
}

/// The number as the directory was asked it, for a log line: the host's
/// reading of it, which the directory has just accepted (the debug macros
/// evaluate this only when the line is kept).
fn e164(number: &str) -> String {
    normalize_e164(number).unwrap_or_else(|_| number.to_owned())
}

/// 484 with a reason phrase that names what is wrong with the number.
fn address_incomplete(problem: &str) -> Verdict {
    Verdict::reject(484, format!("Address Incomplete: {problem}"))
}

/// The User IDs of a directory answer: valid `sip:` and `sips:` URIs, each
/// once, in the directory's order.
fn user_ids(number: &str, mut found: Vec<String>) -> Vec<String> {
    found.retain(|uri| {
        let user_id = SipUri::parse(uri).is_ok();
        if !user_id {
            warn!("directory entry {uri:?} of {number} is not a User ID (a valid sip: or sips: URI); left out");
        }
        user_id
    });
    let mut seen = 0;
    while seen < found.len() {
        if found[..seen].contains(&found[seen]) {
            found.remove(seen);
        } else {
            seen += 1;
        }
    }
    found
}

/// A request addressed with `sips:` asked for TLS on every hop (RFC 3261
/// §19.1); the retargeted request keeps asking.
fn keep_sips(original: &str, user: String) -> String {
    match (scheme_rest(original, "sips"), scheme_rest(&user, "sip")) {
        (Some(_), Some(rest)) => format!("sips:{rest}"),
        _ => user,
    }
}

/// What follows `scheme:` in `uri`, the scheme compared without regard to case.
fn scheme_rest<'a>(uri: &'a str, scheme: &str) -> Option<&'a str> {
    let (found, rest) = uri.split_once(':')?;
    found.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// What a Request-URI designates.
enum Target {
    /// Not a telephone number: SEC-2 does not apply.
    NotANumber,
    /// A telephone number: the `tel:` URI to ask the directory about.
    Number(String),
    /// Written as a telephone number, or as a SIP URI, but unreadable.
    Malformed(Unreadable),
}

/// Why a target that may be a number cannot even be handed to the
/// directory. (Why a number has no E.164 form is the host's to say.)
#[derive(Debug)]
enum Unreadable {
    /// A `user=phone` user part whose escapes do not decode to text.
    Escape,
    /// A `sip:`/`sips:` Request-URI the grammar refuses. The host refuses
    /// such a Request-URI before any policy runs (with the same grammar);
    /// were one to arrive, it is not waved through as "not a number".
    Uri(UriError),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Escape => write!(f, "the number contains a malformed %-escape"),
            Unreadable::Uri(error) => write!(f, "the Request-URI is malformed: {error}"),
        }
    }
}

/// Whether, and which, telephone number a Request-URI designates.
fn target(uri: &str) -> Target {
    if scheme_rest(uri, "tel").is_some() {
        return Target::Number(uri.to_owned());
    }
    if scheme_rest(uri, "sip").is_none() && scheme_rest(uri, "sips").is_none() {
        return Target::NotANumber;
    }
    match SipUri::parse(uri) {
        Ok(uri) => sip_target(&uri),
        Err(error) => Target::Malformed(Unreadable::Uri(error)),
    }
}

/// A `sip:`/`sips:` URI names a number when it says `user=phone` (RFC 3261
/// §19.1.6: its user part is then a telephone-subscriber) or when its user
/// part is a global number.
fn sip_target(uri: &SipUri) -> Target {
    let Some(user) = uri.user() else {
        return Target::NotANumber;
    };
    let phone = uri.param("user").is_some_and(|user| user.eq_ignore_ascii_case("phone"));
    match unescape(user) {
        Some(user) if phone || looks_like_a_global_number(&user) => Target::Number(format!("tel:{user}")),
        Some(_) => Target::NotANumber,
        None if phone => Target::Malformed(Unreadable::Escape),
        None => Target::NotANumber,
    }
}

/// `+` followed by digits, visual separators and spaces, with at least one
/// digit: a user part written as a global number. Spaces count, so that a
/// number written with them (`%2B1%20555…`) is looked up, and refused by
/// the host's reading (RFC 3966 has no space), rather than let through as
/// no number at all.
fn looks_like_a_global_number(user: &str) -> bool {
    user.strip_prefix('+').is_some_and(|rest| {
        rest.chars().any(|c| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '(' | ')' | ' '))
    })
}

export_policy!(LookupGuard);

#[cfg(test)]
mod tests {
    use super::*;

    /// The E.164 number a Request-URI reaches the directory as: what the
    /// policy hands over, read as the host reads it (with the same reader).
    fn number(uri: &str) -> Result<String, String> {
        match target(uri) {
            Target::Number(n) => normalize_e164(&n).map_err(|problem| problem.to_string()),
            Target::Malformed(p) => Err(p.to_string()),
            Target::NotANumber => Err("not a number".into()),
        }
    }

    #[test]
    fn numbers_in_every_spelling() {
        for uri in [
            "tel:+1-555-123-4567",
            "TEL:+1.555.123.4567",
            "tel:(555)123-4567;phone-context=+1",
            "tel:123-4567;phone-context=+1-555",
            "sip:+1-555-123-4567@example.com",
            "sips:+15551234567@example.com;transport=tls",
            "sip:5551234567;phone-context=+1@example.com;user=phone",
            "sip:+15551234567:secret@example.com",
        ] {
            assert_eq!(number(uri).as_deref(), Ok("+15551234567"), "{uri}");
        }
    }

    #[test]
    fn what_is_not_a_number() {
        for uri in ["sip:bob@example.com", "sip:example.com", "sip:+alice@example.com", "sip:+@x", "mailto:a@b", "x"] {
            assert_eq!(number(uri), Err("not a number".into()), "{uri}");
        }
    }

    #[test]
    fn malformed_numbers_say_why() {
        use sipwarden_sdk::grammar::NumberError;
        let cases = [
            ("tel:+1-555-abc", NumberError::InvalidCharacter('a')),
            ("tel:5551234", NumberError::NotGlobal),
            ("tel:1234;phone-context=example.com", NumberError::DomainContext),
            ("tel:+1234567890123456", NumberError::TooLong(16)),
            ("tel:+0123", NumberError::LeadingZero),
            ("tel:+15551234567;ext=12", NumberError::Extension),
            ("tel:+", NumberError::Empty),
            // The host's reason (this policy's own said "the number's
            // parameters are malformed").
            ("tel:1;phone-context=+1;phone-context=+2", NumberError::MalformedUri),
            ("sip:alice@example.com;user=phone", NumberError::InvalidCharacter('a')),
            // A user=phone user part is a telephone-subscriber, where RFC 3966
            // has no space: the host's reading, which this policy's own (it
            // took spaces for visual separators) drifted from.
            ("sip:%2B1%20555%20123%204567@example.com;user=phone", NumberError::InvalidCharacter(' ')),
        ];
        for (uri, problem) in cases {
            assert_eq!(number(uri), Err(problem.to_string()), "{uri}");
        }
        // What cannot be handed to the directory at all.
        assert_eq!(number("sip:%ff@example.com;user=phone"), Err("the number contains a malformed %-escape".into()));
        assert_eq!(
            number("sip:555%zz@example.com;user=phone"),
            Err("the Request-URI is malformed: bad % escape in the URI".into())
        );
    }

    /// What the directory is asked: the `tel:` URI, never a normalization
    /// of this policy's own.
    #[test]
    fn the_number_goes_to_the_directory_as_written() {
        let handed = |uri: &str| match target(uri) {
            Target::Number(number) => Some(number),
            _ => None,
        };
        assert_eq!(handed("TEL:+1.555.123.4567").as_deref(), Some("TEL:+1.555.123.4567"));
        assert_eq!(handed("sip:+1-555-123-4567@example.com").as_deref(), Some("tel:+1-555-123-4567"));
        assert_eq!(
            handed("sip:5551234567;phone-context=+1@example.com;user=phone").as_deref(),
            Some("tel:5551234567;phone-context=+1")
        );
        assert_eq!(handed("sip:%2B1%20555@example.com;user=phone").as_deref(), Some("tel:+1 555"));
    }

    /// (Entries that are not User IDs are logged, through the host: that
    /// case is tested through the host, in host/tests/policy_lookup_guard.rs.)
    #[test]
    fn a_user_id_listed_twice_is_one_user() {
        let found = ["sip:carol@example.com", "sip:carol@example.com", "sips:dave@example.com"];
        let users = user_ids("tel:+15550002222", found.map(String::from).to_vec());
        assert_eq!(users, ["sip:carol@example.com", "sips:dave@example.com"]);
    }

    #[test]
    fn sips_survives_retargeting() {
        assert_eq!(keep_sips("sips:+15551234567@x", "sip:alice@example.com".into()), "sips:alice@example.com");
        assert_eq!(keep_sips("tel:+15551234567", "sip:alice@example.com".into()), "sip:alice@example.com");
        assert_eq!(keep_sips("sip:+15551234567@x", "sips:alice@example.com".into()), "sips:alice@example.com");
    }
}
