//! The `identity` policy (OMA IM SEC-3, SEC-5, REG-5): requests that
//! initiate messages, read profile data, change privacy policy or register
//! are confirmed by digest or by an identity a trusted peer asserts, and the
//! identity must be the one the request claims.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::Md5;
use sha2::{Digest, Sha256};
use sipwarden::capability::{Algorithm, Capabilities, CredentialStore, DigestAuthority, ha1};
use sipwarden::policy::{Chain, Decision, Edit, Engine, EngineOptions, LoadError, Manifest, Outcome, StepResult};
use sipwarden::sip;
use sipwarden::transport::{Origin, TlsPeer, Transport};

const REALM: &str = "example.com";

/// A clock the tests move by hand, shared with the digest authority.
fn clock() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(1_700_000_000))
}

/// alice and bob in `example.com`, with both HA1 hashes each.
fn capabilities(time: &Arc<AtomicU64>) -> Capabilities {
    let mut users = String::new();
    for (user, password) in [("alice", "alice-secret"), ("bob", "bob-secret")] {
        users += &format!(
            "[[user]]\nusername = \"{user}\"\nrealm = \"{REALM}\"\nha1-md5 = \"{}\"\nha1-sha256 = \"{}\"\n",
            ha1(Algorithm::Md5, user, REALM, password),
            ha1(Algorithm::Sha256, user, REALM, password),
        );
    }
    let store = CredentialStore::from_str(&users, "credentials.toml").unwrap();
    let time = time.clone();
    let digest = DigestAuthority::new([7; 32]).with_clock(Arc::new(move || time.load(Ordering::Relaxed)));
    Capabilities::new(Capabilities::no_audit(), Capabilities::no_directory(), store, digest)
}

/// The identity policy with `realm = "example.com"` and `config` added to
/// its `[config]` table.
fn load(config: &str, time: &Arc<AtomicU64>) -> Result<Chain, LoadError> {
    let options = EngineOptions { pool_slots: Some(64), ..EngineOptions::default() };
    let engine = Engine::new(&options, capabilities(time)).unwrap();
    let text = format!("capabilities = [\"log\", \"credentials\"]\n[config]\n{config}\n");
    let manifest = Manifest::parse(&text, Path::new("identity.toml")).unwrap();
    let plugin = engine.load_file_with(&common::wasm("identity"), manifest)?;
    Ok(Chain::new(vec![Arc::new(plugin)]))
}

fn chain(config: &str) -> (Chain, Arc<AtomicU64>) {
    let time = clock();
    let config = format!("realm = \"{REALM}\"\n{config}");
    (load(&config, &time).unwrap(), time)
}

/// A request of `method` from `from` (user@host) to bob, with `extra`
/// header lines. REGISTER goes to the registrar and binds `from` itself.
fn request(method: &str, from: &str, extra: &str) -> sip::Request {
    let (uri, to) =
        if method == "REGISTER" { ("sip:example.com", from) } else { ("sip:bob@example.com", "bob@example.com") };
    let text = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse\r\n\
         Max-Forwards: 70\r\n\
         From: \"Someone\" <sip:{from}>;tag=49583\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: asd88asd77a@192.0.2.10\r\n\
         CSeq: 1 {method}\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("test request did not parse: {other:?}"),
    }
}

fn request_uri(method: &str) -> &'static str {
    if method == "REGISTER" { "sip:example.com" } else { "sip:bob@example.com" }
}

/// The status, reason and headers of an answer.
fn answered(outcome: &Outcome) -> (u16, &str, Vec<(&str, &str)>) {
    match &outcome.decision {
        Decision::Respond { reply, failure: false, .. } => {
            (reply.status, reply.reason.as_str(), reply.headers.iter().map(|h| (h.name(), h.value())).collect())
        }
        other => panic!("expected an answer from the policy, got {other:?}"),
    }
}

/// The edits of a request the policy let continue.
fn continued(outcome: &Outcome) -> &[Edit] {
    assert_eq!(outcome.decision, Decision::Forward, "{:?}", outcome.steps);
    match &outcome.steps[0].result {
        StepResult::Continue { edits } => edits,
        other => panic!("expected continue, got {other:?}"),
    }
}

fn set(name: &str, value: &str) -> Edit {
    Edit::SetHeader { name: name.into(), value: value.into() }
}

fn remove(name: &str) -> Edit {
    Edit::RemoveHeader { name: name.into() }
}

fn add(name: &str, value: &str) -> Edit {
    Edit::AddHeader { name: name.into(), value: value.into() }
}

/// A challenge the policy answered `method` with, as (header name, values).
fn challenge(chain: &Chain, method: &str) -> Vec<String> {
    let outcome = chain.decide(request(method, "alice@example.com", ""), common::origin());
    let (status, _, headers) = answered(&outcome);
    assert!(status == 401 || status == 407, "{status}");
    headers.into_iter().map(|(_, value)| value.to_string()).collect()
}

fn param<'a>(challenge: &'a str, name: &str) -> &'a str {
    let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let len = challenge[start..].find('"').unwrap();
    &challenge[start..start + len]
}

fn hash(algorithm: Algorithm, text: &str) -> String {
    match algorithm {
        Algorithm::Md5 => hex::encode(Md5::digest(text.as_bytes())),
        Algorithm::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
    }
}

/// The credentials a UA sends in answer to `challenge`, computed as RFC 7616
/// `qop=auth` says: response = H(HA1:nonce:nc:cnonce:qop:H(method:uri)).
fn credentials(challenge: &str, user: &str, password: &str, method: &str, nc: u32) -> String {
    let algorithm = if challenge.contains("algorithm=SHA-256") { Algorithm::Sha256 } else { Algorithm::Md5 };
    let (realm, nonce, uri) = (param(challenge, "realm"), param(challenge, "nonce"), request_uri(method));
    let (nc, cnonce) = (format!("{nc:08x}"), "0a4f113b");
    let ha1 = ha1(algorithm, user, realm, password);
    let ha2 = hash(algorithm, &format!("{method}:{uri}"));
    let response = hash(algorithm, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={algorithm}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    )
}

/// Challenge, answer as `user` with `password`, and send `method` from
/// `from` with the answer.
fn authenticated(chain: &Chain, method: &str, from: &str, user: &str, password: &str, extra: &str) -> Outcome {
    let challenges = challenge(chain, method);
    let header = if method == "REGISTER" { "Authorization" } else { "Proxy-Authorization" };
    let answer = credentials(&challenges[0], user, password, method, 1);
    chain.decide(request(method, from, &format!("{header}: {answer}\r\n{extra}")), common::origin())
}

fn trusted_origin(address: &str, transport: Transport, dns_name: Option<&str>) -> Origin {
    Origin {
        transport,
        source: std::net::SocketAddr::new(address.parse().unwrap(), 5061),
        tls_peer: dns_name.map(|name| TlsPeer {
            subject: format!("CN={name}"),
            dns_names: vec![name.to_string()],
            uris: Vec::new(),
        }),
    }
}

const ALICE_PAI: &str = "<sip:alice@example.com>";

#[test]
fn message_without_credentials_is_challenged_sha256_first_then_md5() {
    let (chain, _) = chain("");
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", ""), common::origin());
    let (status, reason, headers) = answered(&outcome);
    assert_eq!((status, reason), (407, "Proxy Authentication Required"));
    assert_eq!(headers.len(), 2, "{headers:?}");
    assert!(
        headers.iter().all(|(name, value)| *name == "Proxy-Authenticate" && value.contains("realm=\"example.com\""))
    );
    assert!(headers[0].1.contains("algorithm=SHA-256") && headers[0].1.contains("qop=\"auth\""), "{headers:?}");
    assert!(headers[1].1.contains("algorithm=MD5"), "{headers:?}");
    assert_eq!(param(headers[0].1, "nonce"), param(headers[1].1, "nonce"));

    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "alice-secret", "");
    continued(&outcome);
}

#[test]
fn valid_md5_and_sha256_credentials_confirm_the_sender() {
    let (chain, _) = chain("");
    for index in [0, 1] {
        let challenges = challenge(&chain, "MESSAGE");
        let answer = credentials(&challenges[index], "alice", "alice-secret", "MESSAGE", 1);
        let outcome = chain.decide(
            request("MESSAGE", "alice@example.com", &format!("Proxy-Authorization: {answer}\r\n")),
            common::origin(),
        );
        assert_eq!(continued(&outcome), [set("P-Asserted-Identity", ALICE_PAI), remove("Proxy-Authorization")]);
        assert_eq!(outcome.request.headers.get("P-Asserted-Identity"), Some(ALICE_PAI));
        assert_eq!(outcome.request.headers.get("Proxy-Authorization"), None);
    }
    // Without credentials the same request is challenged.
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", ""), common::origin());
    assert_eq!(answered(&outcome).0, 407);
}

#[test]
fn invite_is_a_message_too() {
    let (chain, _) = chain("");
    let outcome = chain.decide(request("INVITE", "alice@example.com", ""), common::origin());
    assert_eq!(answered(&outcome).0, 407);
    let outcome = authenticated(&chain, "INVITE", "alice@example.com", "alice", "alice-secret", "");
    assert_eq!(continued(&outcome), [set("P-Asserted-Identity", ALICE_PAI), remove("Proxy-Authorization")]);
}

#[test]
fn wrong_password_is_refused() {
    let (chain, _) = chain("");
    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "guess", "");
    let (status, reason, headers) = answered(&outcome);
    assert_eq!((status, reason, headers.len()), (403, "Authentication Failed", 0));

    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "alice-secret", "");
    continued(&outcome);
}

#[test]
fn credentials_of_another_user_are_an_identity_mismatch() {
    let (chain, _) = chain("");
    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "bob", "bob-secret", "");
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));

    let outcome = authenticated(&chain, "MESSAGE", "bob@example.com", "bob", "bob-secret", "");
    assert_eq!(
        continued(&outcome),
        [set("P-Asserted-Identity", "<sip:bob@example.com>"), remove("Proxy-Authorization")]
    );
}

#[test]
fn replayed_nonce_count_is_refused() {
    let (chain, _) = chain("");
    let challenges = challenge(&chain, "MESSAGE");
    let send = |nc| {
        let answer = credentials(&challenges[0], "alice", "alice-secret", "MESSAGE", nc);
        chain.decide(
            request("MESSAGE", "alice@example.com", &format!("Proxy-Authorization: {answer}\r\n")),
            common::origin(),
        )
    };
    continued(&send(1));
    assert_eq!(answered(&send(1)), (403, "Authentication Failed", vec![]));
    continued(&send(2));
    assert_eq!(answered(&send(2)), (403, "Authentication Failed", vec![]));
}

#[test]
fn expired_nonce_is_challenged_again_as_stale() {
    let (chain, time) = chain("");
    let challenges = challenge(&chain, "MESSAGE");
    let answer = credentials(&challenges[0], "alice", "alice-secret", "MESSAGE", 1);
    time.fetch_add(301, Ordering::Relaxed);
    let outcome = chain.decide(
        request("MESSAGE", "alice@example.com", &format!("Proxy-Authorization: {answer}\r\n")),
        common::origin(),
    );
    let (status, _, headers) = answered(&outcome);
    assert_eq!(status, 407);
    assert!(headers.iter().all(|(_, value)| value.ends_with("stale=true")), "{headers:?}");

    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "alice-secret", "");
    continued(&outcome);
}

#[test]
fn register_is_challenged_with_401_then_continues_keeping_authorization() {
    let (chain, _) = chain("");
    let outcome = chain.decide(request("REGISTER", "alice@example.com", ""), common::origin());
    let (status, reason, headers) = answered(&outcome);
    assert_eq!((status, reason), (401, "Unauthorized"));
    assert_eq!(headers.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["WWW-Authenticate", "WWW-Authenticate"]);
    assert!(headers[0].1.contains("algorithm=SHA-256") && headers[1].1.contains("algorithm=MD5"));

    // Proxy credentials do not register.
    let challenges = challenge(&chain, "REGISTER");
    let answer = credentials(&challenges[0], "alice", "alice-secret", "REGISTER", 1);
    let outcome = chain.decide(
        request("REGISTER", "alice@example.com", &format!("Proxy-Authorization: {answer}\r\n")),
        common::origin(),
    );
    assert_eq!(answered(&outcome).0, 401);

    let outcome = authenticated(&chain, "REGISTER", "alice@example.com", "alice", "alice-secret", "");
    assert_eq!(continued(&outcome), [set("P-Asserted-Identity", ALICE_PAI)]);
    assert!(outcome.request.headers.get("Authorization").is_some_and(|a| a.contains("username=\"alice\"")));
}

#[test]
fn register_of_another_users_address_is_refused() {
    let (chain, _) = chain("");
    let outcome = authenticated(&chain, "REGISTER", "bob@example.com", "alice", "alice-secret", "");
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));
    // An address outside our domains is refused before any challenge.
    let outcome = chain.decide(request("REGISTER", "alice@elsewhere.example", ""), common::origin());
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));
}

#[test]
fn untrusted_asserted_identity_is_removed_and_the_request_challenged() {
    let (chain, _) = chain("trusted-peers = [\"198.51.100.0/24\"]");
    let forged = "P-Asserted-Identity: <sip:bob@example.com>\r\nP-Preferred-Identity: <sip:bob@example.com>\r\n";

    let outcome = chain.decide(request("MESSAGE", "bob@example.com", forged), common::origin());
    assert_eq!(answered(&outcome).0, 407);

    // Removed even where no confirmation is needed.
    let outcome = chain.decide(request("OPTIONS", "bob@example.com", forged), common::origin());
    assert_eq!(continued(&outcome), [remove("P-Asserted-Identity"), remove("P-Preferred-Identity")]);
    assert_eq!(outcome.request.headers.get("P-Asserted-Identity"), None);
    assert_eq!(outcome.request.headers.get("P-Preferred-Identity"), None);

    // With alice's credentials, her own identity replaces the forged one.
    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "alice-secret", forged);
    assert_eq!(
        continued(&outcome),
        [
            remove("P-Asserted-Identity"),
            remove("P-Preferred-Identity"),
            set("P-Asserted-Identity", ALICE_PAI),
            remove("Proxy-Authorization"),
        ]
    );
    assert_eq!(outcome.request.headers.get_all("P-Asserted-Identity").collect::<Vec<_>>(), [ALICE_PAI]);
}

#[test]
fn asserted_identity_from_a_trusted_address_is_accepted_without_digest() {
    let (chain, _) = chain("trusted-peers = [\"198.51.100.0/24\", \"2001:db8::1\"]");
    let core = trusted_origin("198.51.100.7", Transport::Udp, None);
    let asserted = "P-Asserted-Identity: \"Alice\" <sip:alice@example.com>, <tel:+15551234567>\r\n";

    let outcome = chain.decide(request("MESSAGE", "alice@example.com", asserted), core.clone());
    assert!(continued(&outcome).is_empty());
    assert!(outcome.request.headers.get("P-Asserted-Identity").is_some_and(|v| v.contains("sip:alice@example.com")));
    let outcome = chain
        .decide(request("MESSAGE", "alice@example.com", asserted), trusted_origin("2001:db8::1", Transport::Tcp, None));
    assert!(continued(&outcome).is_empty());

    // A user hiding behind an anonymous From is confirmed by the assertion.
    let outcome = chain.decide(request("MESSAGE", "anonymous@anonymous.invalid", asserted), core.clone());
    assert!(continued(&outcome).is_empty());

    // The assertion must be the identity the request claims.
    let outcome = chain.decide(request("MESSAGE", "bob@example.com", asserted), core.clone());
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));
    // A trusted peer that asserts nothing gets a challenge like anyone else.
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", ""), core);
    assert_eq!(answered(&outcome).0, 407);
    // The same assertion from next door is not believed.
    let outcome = chain.decide(
        request("MESSAGE", "alice@example.com", asserted),
        trusted_origin("198.51.101.7", Transport::Udp, None),
    );
    assert_eq!(answered(&outcome).0, 407);
}

#[test]
fn asserted_identity_from_a_trusted_tls_name_is_accepted_without_digest() {
    let (chain, _) = chain("trusted-names = [\"core.example.net\"]");
    let asserted = "P-Asserted-Identity: <sip:alice@example.com>\r\n";

    let core = trusted_origin("203.0.113.5", Transport::Tls, Some("Core.Example.NET"));
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", asserted), core);
    assert!(continued(&outcome).is_empty());

    let stranger = trusted_origin("203.0.113.5", Transport::Tls, Some("edge.example.org"));
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", asserted), stranger.clone());
    assert_eq!(answered(&outcome).0, 407);
    let outcome = chain.decide(request("OPTIONS", "alice@example.com", asserted), stranger);
    assert_eq!(continued(&outcome), [remove("P-Asserted-Identity")]);
    // A certificate name counts only over TLS.
    let outcome = chain.decide(
        request("MESSAGE", "alice@example.com", asserted),
        trusted_origin("203.0.113.5", Transport::Tcp, Some("core.example.net")),
    );
    assert_eq!(answered(&outcome).0, 407);
}

#[test]
fn every_asserted_identity_field_counts() {
    let (chain, _) = chain("trusted-peers = [\"198.51.100.0/24\"]");
    let core = trusted_origin("198.51.100.7", Transport::Udp, None);
    // The claimed address in a second field, after another address or after
    // a value that is no address.
    for first in ["<sip:carol@example.com>", "<mailto:alice@example.com>"] {
        let asserted = format!("P-Asserted-Identity: {first}\r\nP-Asserted-Identity: {ALICE_PAI}\r\n");
        let outcome = chain.decide(request("MESSAGE", "alice@example.com", &asserted), core.clone());
        assert!(continued(&outcome).is_empty(), "{first}");
    }
    // Fields that all name someone else; fields of which none is an address.
    let others = "P-Asserted-Identity: <sip:carol@example.com>\r\nP-Asserted-Identity: <tel:+15551234567>\r\n";
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", others), core.clone());
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));
    let unreadable = "P-Asserted-Identity: <mailto:alice@example.com>\r\nP-Asserted-Identity: <sip:example.com>\r\n";
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", unreadable), core);
    assert_eq!(answered(&outcome).0, 407);
}

#[test]
fn preferred_identity_alone_is_kept_only_from_a_trusted_peer() {
    let (chain, _) = chain("trusted-peers = [\"198.51.100.0/24\"]");
    let preferred = "P-Preferred-Identity: <sip:alice@example.com>\r\n";
    let outcome = chain.decide(request("OPTIONS", "alice@example.com", preferred), common::origin());
    assert_eq!(continued(&outcome), [remove("P-Preferred-Identity")]);
    let core = trusted_origin("198.51.100.7", Transport::Udp, None);
    let outcome = chain.decide(request("OPTIONS", "alice@example.com", preferred), core);
    assert!(continued(&outcome).is_empty());
}

#[test]
fn options_is_not_covered() {
    let (chain, _) = chain("");
    let outcome = chain.decide(request("OPTIONS", "alice@example.com", ""), common::origin());
    assert!(continued(&outcome).is_empty());
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", ""), common::origin());
    assert_eq!(answered(&outcome).0, 407);
}

#[test]
fn subscribe_to_presence_is_challenged_and_to_dialog_is_not() {
    let (chain, _) = chain("");
    let outcome = chain.decide(request("SUBSCRIBE", "alice@example.com", "Event: Presence;id=7\r\n"), common::origin());
    assert_eq!(answered(&outcome).0, 407);
    let outcome = chain.decide(request("SUBSCRIBE", "alice@example.com", "Event: ua-profile\r\n"), common::origin());
    assert_eq!(answered(&outcome).0, 407);
    let outcome = chain.decide(request("SUBSCRIBE", "alice@example.com", "Event: dialog\r\n"), common::origin());
    assert!(continued(&outcome).is_empty());
}

#[test]
fn privacy_policy_changes_are_challenged() {
    let (chain, _) = chain("");
    for (method, extra) in [
        ("PUBLISH", "Event: presence\r\n"),
        ("SUBSCRIBE", "Event: xcap-diff\r\n"),
        ("SUBSCRIBE", "Event: presence.winfo\r\n"),
        ("INFO", "Content-Type: application/auth-policy+xml\r\n"),
        ("INFO", "Content-Type: Application/Pres-Rules+XML; charset=utf-8\r\n"),
    ] {
        let outcome = chain.decide(request(method, "alice@example.com", extra), common::origin());
        assert_eq!(answered(&outcome).0, 407, "{method} {extra}");
    }
    let outcome =
        chain.decide(request("INFO", "alice@example.com", "Content-Type: application/dtmf\r\n"), common::origin());
    assert!(continued(&outcome).is_empty());
    let outcome = authenticated(&chain, "PUBLISH", "alice@example.com", "alice", "alice-secret", "Event: presence\r\n");
    assert_eq!(continued(&outcome), [set("P-Asserted-Identity", ALICE_PAI), remove("Proxy-Authorization")]);
}

#[test]
fn covered_requests_follow_the_configuration() {
    let (chain, _) = chain(
        "message-methods = [\"MESSAGE\"]\nprofile-events = [\"dialog\"]\nprivacy-methods = []\n\
         privacy-content-types = []\nprivacy-events = []",
    );
    for (method, extra, challenged) in [
        ("MESSAGE", "", true),
        ("REGISTER", "", true),
        ("INVITE", "", false),
        ("PUBLISH", "Event: presence\r\n", false),
        ("SUBSCRIBE", "Event: dialog\r\n", true),
        ("SUBSCRIBE", "Event: presence\r\n", false),
    ] {
        let outcome = chain.decide(request(method, "alice@example.com", extra), common::origin());
        assert_eq!(matches!(outcome.decision, Decision::Respond { .. }), challenged, "{method} {extra}");
    }
}

#[test]
fn credentials_for_other_realms_are_passed_on() {
    let (chain, _) = chain("");
    let upstream = "Digest username=\"alice\", realm=\"upstream.example\", nonce=\"abc\", uri=\"sip:bob@example.com\", response=\"0\"";
    let outcome = authenticated(
        &chain,
        "MESSAGE",
        "alice@example.com",
        "alice",
        "alice-secret",
        &format!("Proxy-Authorization: {upstream}\r\n"),
    );
    assert_eq!(
        continued(&outcome),
        [set("P-Asserted-Identity", ALICE_PAI), remove("Proxy-Authorization"), add("Proxy-Authorization", upstream)]
    );
    assert_eq!(outcome.request.headers.get_all("Proxy-Authorization").collect::<Vec<_>>(), [upstream]);
}

#[test]
fn domains_name_the_users_addresses() {
    let time = clock();
    let config = "realm = \"example.com\"\ndomains = [\"sip.example.com\", \"Example.COM\"]";
    let chain = load(config, &time).unwrap();
    let outcome = authenticated(&chain, "MESSAGE", "alice@example.com", "alice", "alice-secret", "");
    assert_eq!(
        continued(&outcome),
        [set("P-Asserted-Identity", "<sip:alice@sip.example.com>"), remove("Proxy-Authorization")]
    );
    let chain = load("realm = \"example.com\"\ndomains = [\"sip.example.com\"]", &time).unwrap();
    let outcome = chain.decide(request("MESSAGE", "alice@example.com", ""), common::origin());
    assert_eq!(answered(&outcome), (403, "Identity Mismatch", vec![]));
}

#[test]
fn bad_configurations_are_refused() {
    let time = clock();
    let refused = |config: &str| load(config, &time).err().expect("must be refused").to_string();
    let error = refused("realm = \"example.com\"\ntrusted-peers = [\"192.0.2.0/24\", \"192.0.2.0/33\"]");
    assert!(
        error.contains("refused its configuration: trusted-peers: `192.0.2.0/33` has a bad prefix length `/33` (0-32)"),
        "{error}"
    );
    let error = refused("realm = \"example.com\"\ntrusted-peers = [\"2001:db8::1/64\"]");
    assert!(
        error.contains("`2001:db8::1/64` has bits set beyond its /64 prefix (did you mean `2001:db8::/64`?)"),
        "{error}"
    );
    let error = refused("realm = \"example.com\"\ntrusted-peers = [\"core.example.net\"]");
    assert!(error.contains("`core.example.net` is not an IP address or CIDR prefix"), "{error}");
    let error = refused("realm = \"\"");
    assert!(error.contains("realm \"\" must be non-empty"), "{error}");
    let error = refused("domains = [\"example.com\"]");
    assert!(error.contains("invalid configuration: missing field `realm`"), "{error}");
    let error = refused("realm = \"Example Realm\"");
    assert!(error.contains("realm \"Example Realm\" is not a host name, so domains must list"), "{error}");
    assert!(load("realm = \"Example Realm\"\ndomains = [\"example.com\"]", &time).is_ok());
    let error = refused("realm = \"example.com\"\ndomains = []");
    assert!(error.contains("domains must list at least one domain"), "{error}");
    let error = refused("realm = \"example.com\"\nmessage-methods = [\"MESSAGE\", \"ACK\"]");
    assert!(error.contains("message-methods: ACK cannot be challenged"), "{error}");
    let error = refused("realm = \"example.com\"\ntrusted-peer = [\"192.0.2.1\"]");
    assert!(error.contains("unknown field `trusted-peer`"), "{error}");

    let good = "realm = \"example.com\"\ntrusted-peers = [\"192.0.2.0/24\", \"2001:db8::/32\", \"::ffff:0:0/96\"]";
    assert!(load(good, &time).is_ok());
}
