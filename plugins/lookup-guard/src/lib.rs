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
//! number is normalized to E.164 (visual separators `-.() ` dropped, a local
//! number completed by a global-number `phone-context`) and looked up in the
//! host's directory:
//!
//! | directory answer             | reply                                          |
//! |------------------------------|------------------------------------------------|
//! | exactly one User ID          | continue, the Request-URI set to that User ID  |
//! | none                         | 404 `Number Not Found`                         |
//! | several                      | 485 `Ambiguous`                                |
//! | the number is malformed      | 484 `Address Incomplete: <the problem>`        |
//! | the directory is unavailable | `fail`: the manifest's failure policy answers  |
//!
//! Several User IDs are refused for contacts *and* sessions: SEC-2 permits a
//! contact only after a *unique* look-up, and a session must reach the one
//! user the sender meant (forking a message to every owner of a number would
//! deliver it to people the sender never chose). The 485 carries no list of
//! candidates (RFC 3261 §21.4.23 allows one): it would tell the sender who
//! else owns the number.
//!
//! A User ID is a `sip:` or `sips:` URI; other entries of a directory answer
//! (a `tel:` alias) are not users and are left out, and a User ID listed
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
use sipwarden_sdk::{Edit, Policy, Request, Verdict, address, debug, export_policy, warn};

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

/// The most digits an E.164 number has, country code included.
const MAX_DIGITS: usize = 15;

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
/// refuse it.
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
            debug!("{} to {number}: no user has this number", purpose.describe());
            Verdict::reject(404, "Number Not Found")
        }
        Some(_) => {
            debug!("{} to {number}: {count} users share this number", purpose.describe());
            Verdict::reject(485, "Ambiguous")
        }
    }
}

/// 484 with a reason phrase that names what is wrong with the number.
fn address_incomplete(problem: &str) -> Verdict {
    Verdict::reject(484, format!("Address Incomplete: {problem}"))
}

/// The User IDs of a directory answer: `sip:` and `sips:` URIs, each once,
/// in the directory's order.
fn user_ids(number: &str, mut found: Vec<String>) -> Vec<String> {
    found.retain(|uri| {
        let user_id = scheme_rest(uri, "sip").or_else(|| scheme_rest(uri, "sips")).is_some();
        if !user_id {
            warn!("directory entry {uri:?} of {number} is not a User ID (sip: or sips: URI); left out");
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
    /// A telephone number, normalized to E.164 (`+` and 1–15 digits).
    Number(String),
    /// Written as a telephone number, but not one that has an E.164 form.
    Malformed(NumberProblem),
}

impl From<Result<String, NumberProblem>> for Target {
    fn from(result: Result<String, NumberProblem>) -> Target {
        result.map_or_else(Target::Malformed, Target::Number)
    }
}

/// Why a telephone number has no E.164 form. The wording matches the
/// host directory's `invalid-number` reasons, so a client reads the same
/// explanation whichever side found the problem.
#[derive(Debug, PartialEq, Eq)]
enum NumberProblem {
    Empty,
    InvalidCharacter(char),
    NotGlobal,
    DomainContext,
    TooLong(usize),
    LeadingZero,
    Extension,
    MalformedParameters,
    MalformedEscape,
}

impl fmt::Display for NumberProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberProblem::Empty => write!(f, "the number has no digits"),
            NumberProblem::InvalidCharacter(c) => {
                write!(f, "the number contains {c:?}, which is neither a digit nor a visual separator")
            }
            NumberProblem::NotGlobal => write!(f, "the number has no leading '+' and no global phone-context"),
            NumberProblem::DomainContext => {
                write!(f, "the number's phone-context is a domain name, so it has no E.164 form")
            }
            NumberProblem::TooLong(n) => write!(f, "the number has {n} digits, but E.164 allows at most {MAX_DIGITS}"),
            NumberProblem::LeadingZero => write!(f, "the number starts with 0, which no E.164 country code does"),
            NumberProblem::Extension => {
                write!(f, "the number has an extension or subaddress, which E.164 cannot express")
            }
            NumberProblem::MalformedParameters => write!(f, "the number's parameters are malformed"),
            NumberProblem::MalformedEscape => write!(f, "the number contains a malformed %-escape"),
        }
    }
}

/// Whether, and which, telephone number a Request-URI designates.
fn target(uri: &str) -> Target {
    if let Some(subscriber) = scheme_rest(uri, "tel") {
        return telephone_subscriber(subscriber).into();
    }
    match scheme_rest(uri, "sip").or_else(|| scheme_rest(uri, "sips")) {
        Some(rest) => sip_target(rest),
        None => Target::NotANumber,
    }
}

/// A `sip:`/`sips:` URI names a number when it says `user=phone` (RFC 3261
/// §19.1.1: its user part is then a telephone-subscriber) or when its user
/// part is a global number.
fn sip_target(rest: &str) -> Target {
    let Some((userinfo, host_part)) = rest.split_once('@') else {
        return Target::NotANumber;
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
    let phone = says_user_phone(host_part);
    match address::unescape(user) {
        Some(user) if phone || is_global_number(&user) => telephone_subscriber(&user).into(),
        Some(_) => Target::NotANumber,
        None if phone => Target::Malformed(NumberProblem::MalformedEscape),
        None => Target::NotANumber,
    }
}

/// Whether the URI parameters after the host include `user=phone`.
fn says_user_phone(host_part: &str) -> bool {
    let without_headers = host_part.split_once('?').map_or(host_part, |(params, _)| params);
    without_headers.split(';').skip(1).any(|param| {
        param
            .split_once('=')
            .is_some_and(|(name, value)| name.eq_ignore_ascii_case("user") && value.eq_ignore_ascii_case("phone"))
    })
}

/// `+` followed by digits and visual separators, with at least one digit.
fn is_global_number(user: &str) -> bool {
    user.strip_prefix('+').is_some_and(|rest| {
        rest.chars().any(|c| c.is_ascii_digit()) && rest.chars().all(|c| c.is_ascii_digit() || is_visual_separator(c))
    })
}

/// An RFC 3966 telephone-subscriber (`+1-555-123-4567`,
/// `123-4567;phone-context=+1-555`), normalized to E.164.
fn telephone_subscriber(subscriber: &str) -> Result<String, NumberProblem> {
    let mut parts = subscriber.split(';');
    let number = parts.next().unwrap_or_default();
    let mut context = None;
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.eq_ignore_ascii_case("phone-context") {
            if value.is_empty() || context.replace(value).is_some() {
                return Err(NumberProblem::MalformedParameters);
            }
        } else if name.eq_ignore_ascii_case("ext") || name.eq_ignore_ascii_case("isub") {
            return Err(NumberProblem::Extension);
        } else if name.is_empty() {
            return Err(NumberProblem::MalformedParameters);
        }
    }
    if let Some(global) = number.strip_prefix('+') {
        return e164(digits(global)?);
    }
    let local = digits(number)?;
    match context.map(|context| context.strip_prefix('+')) {
        None => Err(NumberProblem::NotGlobal),
        Some(None) => Err(NumberProblem::DomainContext),
        Some(Some(prefix)) => e164(digits(prefix)? + &local),
    }
}

/// The digits of a number, its visual separators dropped.
fn digits(text: &str) -> Result<String, NumberProblem> {
    // One byte more than the digits can take: `e164` prefixes the `+`.
    let mut digits = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_visual_separator(c) {
            return Err(NumberProblem::InvalidCharacter(c));
        }
    }
    Ok(digits)
}

/// RFC 3966 visual separators, and the space people type between groups.
fn is_visual_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')' | ' ')
}

/// `+` and the digits, when they can be an E.164 number.
fn e164(digits: String) -> Result<String, NumberProblem> {
    if digits.is_empty() {
        Err(NumberProblem::Empty)
    } else if digits.len() > MAX_DIGITS {
        Err(NumberProblem::TooLong(digits.len()))
    } else if digits.starts_with('0') {
        Err(NumberProblem::LeadingZero)
    } else {
        // `digits` has room for the `+` (see `digits`): no new allocation.
        let mut number = digits;
        number.insert(0, '+');
        Ok(number)
    }
}

/// RFC 3261 §25.1 `token`: what a method name is made of.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

export_policy!(LookupGuard);

#[cfg(test)]
mod tests {
    use super::*;

    fn number(uri: &str) -> Result<String, String> {
        match target(uri) {
            Target::Number(n) => Ok(n),
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
            "sip:%2B1%20555%20123%204567@example.com;user=phone",
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
        let cases = [
            ("tel:+1-555-abc", NumberProblem::InvalidCharacter('a')),
            ("tel:5551234", NumberProblem::NotGlobal),
            ("tel:1234;phone-context=example.com", NumberProblem::DomainContext),
            ("tel:+1234567890123456", NumberProblem::TooLong(16)),
            ("tel:+0123", NumberProblem::LeadingZero),
            ("tel:+15551234567;ext=12", NumberProblem::Extension),
            ("tel:+", NumberProblem::Empty),
            ("tel:1;phone-context=+1;phone-context=+2", NumberProblem::MalformedParameters),
            ("sip:555%zz@example.com;user=phone", NumberProblem::MalformedEscape),
            ("sip:alice@example.com;user=phone", NumberProblem::InvalidCharacter('a')),
        ];
        for (uri, problem) in cases {
            assert_eq!(number(uri), Err(problem.to_string()), "{uri}");
        }
    }

    #[test]
    fn sips_survives_retargeting() {
        assert_eq!(keep_sips("sips:+15551234567@x", "sip:alice@example.com".into()), "sips:alice@example.com");
        assert_eq!(keep_sips("tel:+15551234567", "sip:alice@example.com".into()), "sip:alice@example.com");
        assert_eq!(keep_sips("sip:+15551234567@x", "sips:alice@example.com".into()), "sips:alice@example.com");
    }
}
