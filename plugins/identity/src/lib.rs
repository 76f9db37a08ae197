//! Identity: confirm who sends a request before the IM service acts on it.
//!
//! Implements the OMA Instant Messaging requirements
//!
//! * **SEC-3**: "The IM system SHALL confirm the identity of a user
//!   (a) initiating a message, (b) accessing profile data, (c) initiating
//!   privacy-policy changes."
//! * **SEC-5**: users SHALL be authenticated before using the service.
//! * **REG-5**: users SHALL be authenticated when registering.
//!
//! # Which requests are confirmed
//!
//! * every `REGISTER` (REG-5), whatever the configuration says;
//! * (a) the `message-methods` (default `MESSAGE`, `INVITE`);
//! * (b) a `SUBSCRIBE` whose `Event` package (the token before `;`) is one
//!   of the `profile-events` (default `presence`, `ua-profile`);
//! * (c) the `privacy-methods` (default `PUBLISH`: a publication decides what
//!   watchers are shown), any request whose `Content-Type` is one of the
//!   `privacy-content-types` (default `application/auth-policy+xml`,
//!   `application/pres-rules+xml`: the RFC 4745 / RFC 5025 authorization
//!   documents), and a `SUBSCRIBE` or `PUBLISH` whose event package is one of
//!   the `privacy-events` (default `xcap-diff`, through which a client tracks
//!   its policy documents, and `presence.winfo`, through which a presentity
//!   learns who asks to watch it and so starts authorizing them).
//!
//! Methods compare case-sensitively (RFC 3261 §7.1); event packages and
//! media types without regard to case. `ACK` and `CANCEL` are never
//! confirmed: they cannot be challenged (RFC 3261 §22.1), and a configuration
//! that lists them is refused. Every other request passes, once stripped of
//! untrusted assertions (below).
//!
//! # How an identity is confirmed
//!
//! 1. **Asserted by the SIP/IP core** (RFC 3325): a `P-Asserted-Identity`
//!    from a trusted peer, one whose source address is in `trusted-peers`
//!    or which presented, over TLS, a certificate with a DNS name or URI in
//!    `trusted-names` (compared exactly, without regard to case). From any
//!    other hop, `P-Asserted-Identity` and `P-Preferred-Identity` are removed
//!    from every request, covered or not (RFC 3325 §5), so that no later
//!    plugin and no downstream hop believes them.
//! 2. **Digest authentication** (RFC 3261 §22) through the host's
//!    `credentials` capability: `REGISTER` with `Authorization` and a `401`
//!    `WWW-Authenticate` challenge (the registrar is this host), every other
//!    request with `Proxy-Authorization` and a `407` `Proxy-Authenticate`
//!    challenge, one header per algorithm the host offers. An expired nonce
//!    is challenged again with `stale=true`; wrong, forged, replayed or
//!    malformed credentials are answered `403 Authentication Failed` (the
//!    host's reason goes to the log at info level, never on the wire).
//!
//! # The identity must be the one the request claims
//!
//! The request claims its `From` address, and a `REGISTER` also its `To`
//! (the address-of-record being bound). Each claimed address must be the
//! confirmed identity, else `403 Identity Mismatch`:
//!
//! * digest: the user part is the authenticated username's (as RFC 3261
//!   §19.1.4 compares user parts, and as the host's registrar does:
//!   `%61lice` is `alice`, `Alice` is not) and the host is one of `domains`
//!   (default: the realm). A request claiming an address
//!   outside `domains` is answered `403 Identity Mismatch` at once, since no
//!   credential of ours can confirm it;
//! * asserted: the address (user and host, or a `tel:` number) equals one of
//!   the `P-Asserted-Identity` addresses.
//!
//! RFC 3323 lets a user hide behind `From: <sip:anonymous@anonymous.invalid>`
//! while the network asserts who they are: such a `From` claims nothing, so
//! the identity is confirmed (asserted or by digest) without comparing it.
//! Not for `REGISTER`, whose `To` is always compared.
//!
//! # What a confirmed request carries on
//!
//! * digest: `P-Asserted-Identity: <sip:USERNAME@DOMAIN>`, with the first of
//!   `domains` (the realm by default), replacing any other; and our realm's
//!   `Proxy-Authorization` is removed so the credentials go no further
//!   (RFC 3261 §22.3; credentials for other realms are kept for the proxies
//!   they are meant for). `Authorization` on a `REGISTER` stays: the
//!   registrar is this host, and the audit policy reads its username;
//! * asserted: the trusted `P-Asserted-Identity` is kept as it is.
//!
//! # Configuration
//!
//! ```toml
//! [config]
//! realm = "example.com"                  # required: the digest realm
//! domains = ["example.com"]              # From/To hosts the realm's users own (default: [realm])
//! trusted-peers = ["192.0.2.0/24"]       # IPs and CIDR prefixes, IPv4/IPv6 (default: none)
//! trusted-names = ["core.example.net"]   # TLS certificate DNS names / URIs (default: none)
//! message-methods = ["MESSAGE", "INVITE"]
//! profile-events = ["presence", "ua-profile"]
//! privacy-methods = ["PUBLISH"]
//! privacy-content-types = ["application/auth-policy+xml", "application/pres-rules+xml"]
//! privacy-events = ["xcap-diff", "presence.winfo"]
//! ```
//!
//! An empty realm, an empty `domains` (or none while the realm is not a host
//! name), a malformed address or prefix, or a listed `ACK`/`CANCEL` refuses
//! the configuration with a message naming it.
//! The manifest must grant `log` and `credentials`, and leave `methods`
//! empty: stripping untrusted assertions applies to every request.

mod address;
mod coverage;
mod trust;

use serde::Deserialize;
use sipwarden_sdk::credentials::{self, Verification};
use sipwarden_sdk::grammar::canonical_host;
use sipwarden_sdk::{Edit, Header, Policy, Request, Verdict, export_policy, info, is_token, split_list};

use address::{Address, escape_user};
use coverage::Coverage;
use trust::{Sender, TrustedPeers};

const ASSERTED: &str = "P-Asserted-Identity";
const PREFERRED: &str = "P-Preferred-Identity";
const PROXY_CREDENTIALS: &str = "Proxy-Authorization";

/// At most this many credentials for other realms are passed on, within
/// this many bytes, so the verdict stays far inside the host's limits.
const MAX_FORWARDED_CREDENTIALS: usize = 8;
const MAX_FORWARDED_BYTES: usize = 8 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    realm: String,
    #[serde(default)]
    domains: Option<Vec<String>>,
    #[serde(default)]
    trusted_peers: Vec<String>,
    #[serde(default)]
    trusted_names: Vec<String>,
    #[serde(default = "default_message_methods")]
    message_methods: Vec<String>,
    #[serde(default = "default_profile_events")]
    profile_events: Vec<String>,
    #[serde(default = "default_privacy_methods")]
    privacy_methods: Vec<String>,
    #[serde(default = "default_privacy_content_types")]
    privacy_content_types: Vec<String>,
    #[serde(default = "default_privacy_events")]
    privacy_events: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn default_message_methods() -> Vec<String> {
    strings(&["MESSAGE", "INVITE"])
}

fn default_profile_events() -> Vec<String> {
    strings(&["presence", "ua-profile"])
}

fn default_privacy_methods() -> Vec<String> {
    strings(&["PUBLISH"])
}

fn default_privacy_content_types() -> Vec<String> {
    strings(&["application/auth-policy+xml", "application/pres-rules+xml"])
}

fn default_privacy_events() -> Vec<String> {
    strings(&["xcap-diff", "presence.winfo"])
}

struct ConfirmIdentity {
    realm: String,
    /// Lowercase; the first one names users in the asserted identity.
    domains: Vec<String>,
    trusted: TrustedPeers,
    coverage: Coverage,
}

impl Policy for ConfirmIdentity {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.realm.trim().is_empty() || config.realm.chars().any(char::is_control) {
            return Err(format!("realm {:?} must be non-empty text without control characters", config.realm));
        }
        let domains = match config.domains {
            Some(domains) if domains.is_empty() => return Err("domains must list at least one domain".into()),
            Some(domains) => domains.iter().map(|d| checked_domain(d)).collect::<Result<_, _>>()?,
            None => vec![checked_domain(&config.realm).map_err(|_| {
                format!("realm {:?} is not a host name, so domains must list the users' domains", config.realm)
            })?],
        };
        let coverage = Coverage {
            message_methods: checked_methods("message-methods", config.message_methods)?,
            profile_events: lowercase_tokens("profile-events", config.profile_events)?,
            privacy_methods: checked_methods("privacy-methods", config.privacy_methods)?,
            privacy_content_types: lowercase_tokens("privacy-content-types", config.privacy_content_types)?,
            privacy_events: lowercase_tokens("privacy-events", config.privacy_events)?,
        };
        Ok(ConfirmIdentity {
            realm: config.realm,
            domains,
            trusted: TrustedPeers::new(&config.trusted_peers, &config.trusted_names)?,
            coverage,
        })
    }

    fn decide(&self, req: &Request) -> Verdict {
        // Each part of the request is asked of the host only when the
        // decision needs it: who sent it only when it carries an identity to
        // believe or strip (or for the log), every P-Asserted-Identity value
        // only when the first does not settle it.
        let sender = Sender::new(req, &self.trusted);
        let first_asserted = req.header(ASSERTED);
        let believed = first_asserted.is_some() && sender.is_trusted();
        let mut edits =
            if believed { Vec::new() } else { strip_untrusted_assertions(req, &sender, first_asserted.is_some()) };

        let method = req.method();
        if !self.coverage.requires_confirmation(req, &method) {
            return Verdict::pass_with(edits);
        }
        let from = req.header("From");
        let to = if is_register(&method) { req.header("To") } else { None };
        let Some(claimed) = claimed_addresses(&method, from.as_deref(), to.as_deref()) else {
            return identity_mismatch(&method, &sender, "its From or To is not a SIP address");
        };

        if let Some(first) = first_asserted.filter(|_| believed) {
            match assertion(req, &first, &claimed) {
                Assertion::Claimed => return Verdict::pass_with(edits),
                Assertion::Other => {
                    return identity_mismatch(&method, &sender, "the asserted identity is not the one it claims");
                }
                // No address in it: confirmed by digest, like anyone's.
                Assertion::Unreadable => {}
            }
        }

        if !claimed.iter().all(|claim| self.is_ours(claim)) {
            return identity_mismatch(&method, &sender, "it claims an address outside our domains");
        }
        let proxy = !is_register(&method);
        match credentials::verify(req, &self.realm, proxy) {
            Verification::Verified(identity) => {
                if identity.realm != self.realm || !claimed.iter().all(|claim| claim.names_user(&identity.username)) {
                    let why = format!("authenticated as {:?}, but it claims another user", identity.username);
                    return identity_mismatch(&method, &sender, &why);
                }
                edits.push(Edit::set(ASSERTED, self.asserted_identity(&identity.username)));
                if proxy {
                    edits.extend(self.drop_own_credentials(req));
                }
                Verdict::pass_with(edits)
            }
            Verification::Missing => self.challenge(proxy, false),
            Verification::Stale => self.challenge(proxy, true),
            Verification::Rejected(reason) => {
                info!("{method} from {}: credentials refused: {reason}", sender.address());
                Verdict::reject(403, "Authentication Failed")
            }
        }
    }
}

impl ConfirmIdentity {
    /// Whether a claimed address belongs to a user of our realm.
    fn is_ours(&self, claim: &Address) -> bool {
        matches!(claim, Address::Sip { host, .. } if self.domains.iter().any(|domain| domain == host))
    }

    /// `<sip:USERNAME@DOMAIN>` for a user confirmed by digest.
    fn asserted_identity(&self, username: &str) -> String {
        let domain = self.domains.first().map_or(self.realm.as_str(), String::as_str);
        format!("<sip:{}@{domain}>", escape_user(username))
    }

    /// Ask for credentials: 401 for the registrar, 407 for the proxy.
    fn challenge(&self, proxy: bool, stale: bool) -> Verdict {
        let challenges = credentials::challenge(&self.realm, stale);
        if challenges.is_empty() {
            return Verdict::fail("the credentials capability offered no challenge");
        }
        let (status, reason, header) = if proxy {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        } else {
            (401, "Unauthorized", "WWW-Authenticate")
        };
        Verdict::respond(status, reason, challenges.into_iter().map(|value| Header::new(header, value)).collect())
    }

    /// Remove the credentials for our realm (RFC 3261 §22.3), passing on
    /// those for other realms. Credentials whose realm cannot be read are
    /// treated as ours: dropping them costs a downstream challenge at worst,
    /// forwarding them could leak ours.
    fn drop_own_credentials(&self, req: &Request) -> Vec<Edit> {
        let values = req.header_values(PROXY_CREDENTIALS);
        if values.is_empty() {
            return Vec::new();
        }
        let mut edits = vec![Edit::remove(PROXY_CREDENTIALS)];
        let (mut kept, mut bytes) = (0, 0);
        for value in values {
            let foreign = credentials::digest_param(&value, "realm").is_some_and(|realm| realm != self.realm);
            if !foreign || kept == MAX_FORWARDED_CREDENTIALS || bytes + value.len() > MAX_FORWARDED_BYTES {
                continue;
            }
            kept += 1;
            bytes += value.len();
            edits.push(Edit::add(PROXY_CREDENTIALS, value));
        }
        edits
    }
}

/// RFC 3325 §5: identities asserted by a hop outside the trust domain are
/// not believed, and not passed on. For a request whose `P-Asserted-Identity`
/// is not believed (`asserted`: it has one); its `P-Preferred-Identity` is
/// kept only from a trusted hop.
fn strip_untrusted_assertions(req: &Request, sender: &Sender, asserted: bool) -> Vec<Edit> {
    let mut edits = Vec::new();
    if asserted {
        edits.push(Edit::remove(ASSERTED));
    }
    if req.header(PREFERRED).is_some() && !sender.is_trusted() {
        edits.push(Edit::remove(PREFERRED));
    }
    edits
}

/// The addresses a request claims for its sender: the From (none when it is
/// anonymous, outside REGISTER), and for REGISTER the To. `None` when one of
/// them is not an address.
fn claimed_addresses(method: &str, from: Option<&str>, to: Option<&str>) -> Option<Vec<Address>> {
    let from = Address::parse(from?)?;
    if is_register(method) {
        let to = Address::parse(to?)?;
        return Some(vec![from, to]);
    }
    Some(if from.is_anonymous() { Vec::new() } else { vec![from] })
}

/// What a believed `P-Asserted-Identity` says of the claimed addresses.
enum Assertion {
    /// Each of them is one of its addresses.
    Claimed,
    /// It asserts someone else.
    Other,
    /// None of its values is an address.
    Unreadable,
}

/// Compares the claimed addresses with every address of every
/// `P-Asserted-Identity` value (RFC 3325 allows a `sip:`/`sips:` one and a
/// `tel:` one; addresses that do not parse are left out, and so is a whole
/// value that is not a list: an empty element or an open quote makes its
/// elements a guess). The `first` value mostly settles it: the others are
/// fetched only when it does not.
fn assertion(req: &Request, first: &str, claimed: &[Address]) -> Assertion {
    let asserts_claims = |asserted: &[Address]| claimed.iter().all(|claim| asserted.contains(claim));
    let addresses = |value: &str| -> Vec<Address> {
        split_list(value).unwrap_or_default().into_iter().filter_map(Address::parse).collect()
    };
    let asserted = addresses(first);
    if !asserted.is_empty() && asserts_claims(&asserted) {
        return Assertion::Claimed;
    }
    let values = req.header_values(ASSERTED);
    let asserted: Vec<Address> = values.iter().flat_map(|value| addresses(value)).collect();
    if asserted.is_empty() {
        Assertion::Unreadable
    } else if asserts_claims(&asserted) {
        Assertion::Claimed
    } else {
        Assertion::Other
    }
}

fn is_register(method: &str) -> bool {
    method == "REGISTER"
}

fn identity_mismatch(method: &str, sender: &Sender, why: &str) -> Verdict {
    info!("{method} from {}: identity mismatch: {why}", sender.address());
    Verdict::reject(403, "Identity Mismatch")
}

/// A domain of `domains`: a host as it appears in a SIP URI, in the
/// canonical form claimed hosts are compared in (lower case, no final dot,
/// IPv6 in brackets and one spelling).
fn checked_domain(domain: &str) -> Result<String, String> {
    let trimmed = domain.trim();
    if trimmed.is_empty() || trimmed.contains(|c: char| c.is_whitespace() || c.is_control() || "@<>;?\"".contains(c)) {
        return Err(format!("domains: {domain:?} is not a host name or address"));
    }
    Ok(canonical_host(trimmed))
}

/// A list of methods, exactly as they appear on the wire.
fn checked_methods(key: &str, methods: Vec<String>) -> Result<Vec<String>, String> {
    for method in &methods {
        if !is_token(method) {
            return Err(format!("{key}: {method:?} is not a method name"));
        }
        if method == "ACK" || method == "CANCEL" {
            return Err(format!("{key}: {method} cannot be challenged (RFC 3261 §22.1)"));
        }
    }
    Ok(methods)
}

/// A list of event packages or media types, lowercase.
fn lowercase_tokens(key: &str, tokens: Vec<String>) -> Result<Vec<String>, String> {
    tokens
        .into_iter()
        .map(|token| {
            let normalized = token.trim().to_ascii_lowercase();
            if normalized.is_empty() || normalized.contains(|c: char| c.is_whitespace() || c == ';') {
                Err(format!("{key}: {token:?} is not an event package or media type"))
            } else {
                Ok(normalized)
            }
        })
        .collect()
}

export_policy!(ConfirmIdentity);
