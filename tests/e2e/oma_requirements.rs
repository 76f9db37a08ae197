//! The OMA Instant Messaging security and registration requirements, each
//! allowed and refused through a running `sipwarden serve` with the bundled
//! policies (audit, secure-transport, identity, lookup-guard), the demo
//! credential and number stores, and the embedded registrar: the
//! configuration `sipwarden serve` runs by default, on the test's ports, with
//! manifests adapted where a test says so.
//!
//! Digest credentials are computed here (`harness::digest`), not by sipp:
//! sipp 3.6 answers only the first challenge, SHA-256, which it cannot do.
//! Every test asserts the exact status line of each response.

mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use harness::audit::{read_trail, without_time};
use harness::digest::{ALICE, BOB, Challenge, Credentials, challenges, credentials_for};
use harness::netns::in_private_network;
use harness::proxy::{Config, Sipwarden};
use harness::sip::Message;
use harness::sipp::{Sipp, assert_all_succeeded};
use harness::tls_client::{TestPki, TlsClient};
use harness::ua::{Outgoing, Ua};
use harness::{LOOPBACK, free_port};
use serde_json::json;

/// The realm and the users' domain of the demo stores.
const DOMAIN: &str = "127.0.0.1";

/// A second loopback address, for a peer the proxy tells apart from
/// 127.0.0.1 by its source address.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long a UAS waits for a request the proxy should forward at once.
const FORWARDED_WITHIN: Duration = Duration::from_secs(5);

fn aor(user: &str, domain: &str) -> String {
    format!("<sip:{user}@{domain}>")
}

/// A REGISTER of `sip:USER@DOMAIN` binding `contact` for 300 s.
fn registration(user: &str, domain: &str, contact: &str) -> Outgoing {
    Outgoing::new("REGISTER", &format!("sip:{domain}"), &aor(user, domain))
        .header(&format!("To: {}", aor(user, domain)))
        .header(&format!("Contact: {contact}"))
        .header("Expires: 300")
}

/// Register with digest credentials from `ua`: 401, then 200. Returns the 200.
fn register(ua: &Ua, credentials: Credentials<'_>, domain: &str, contact: &str) -> Message {
    let (challenge, response) =
        ua.exchange_authenticated(&registration(credentials.username, domain, contact), credentials);
    assert_eq!(challenge.start, "SIP/2.0 401 Unauthorized", "REGISTER without credentials");
    assert_eq!(response.start, "SIP/2.0 200 OK", "REGISTER of {} with digest", credentials.username);
    response
}

/// The URIs of the Contact values of a message (one header each, or a
/// comma-separated list; parameters such as `+sip.instance="<urn:…>"` may
/// hold `<`, `>` and `,` inside quotes).
fn contact_uris(message: &Message) -> Vec<String> {
    let mut uris = Vec::new();
    for value in message.headers_named("Contact") {
        let (mut quoted, mut uri, mut in_uri, mut seen_uri) = (false, String::new(), false, false);
        for c in value.chars() {
            match c {
                '"' if !in_uri => quoted = !quoted,
                '<' if !quoted && !seen_uri => in_uri = true,
                '>' if in_uri => (in_uri, seen_uri) = (false, true),
                ',' if !quoted && !in_uri => {
                    uris.push(std::mem::take(&mut uri));
                    seen_uri = false;
                }
                c if in_uri => uri.push(c),
                _ => {}
            }
        }
        if seen_uri {
            uris.push(uri);
        }
    }
    uris
}

/// Exactly two digest challenges in `header`: SHA-256 first, then MD5
/// (RFC 8760 §2.4), for the demo realm, `qop="auth"`, sharing one nonce.
fn assert_two_challenges(response: &Message, header: &str) {
    let values: Vec<&str> = response.headers_named(header).collect();
    assert_eq!(values.len(), 2, "{header} values of `{}`: {values:?}", response.start);
    let challenges: Vec<Challenge> =
        values.iter().map(|v| Challenge::parse(v).unwrap_or_else(|| panic!("not a digest challenge: {v}"))).collect();
    let algorithms: Vec<&str> = challenges.iter().map(Challenge::algorithm).collect();
    assert_eq!(algorithms, ["SHA-256", "MD5"], "challenge order: {values:?}");
    for challenge in &challenges {
        assert_eq!(challenge.get("realm"), Some(DOMAIN), "{values:?}");
        assert_eq!(challenge.get("qop"), Some("auth"), "{values:?}");
    }
    let nonce = challenges[0].get("nonce").unwrap_or_default();
    assert!(!nonce.is_empty() && challenges[1].get("nonce") == Some(nonce), "nonces: {values:?}");
}

/// `request` sent by `ua` is answered 407 with both digest challenges.
fn assert_proxy_challenged(ua: &Ua, request: &Outgoing) {
    let response = ua.exchange(request);
    assert_eq!(response.start, "SIP/2.0 407 Proxy Authentication Required", "{} {:?}", request.method, request.extra);
    assert_two_challenges(&response, "Proxy-Authenticate");
}

/// `text` sent by `sender`, forwarded to `uas` (which answers 200) and
/// answered 200 to `sender`: the request as `uas` received it.
fn forward_and_answer(sender: &Ua, text: &str, uas: &Ua, what: &str) -> Message {
    std::thread::scope(|scope| {
        let at_uas = scope.spawn(|| receive_and_answer(uas, 200, "OK"));
        let response = sender.exchange_text(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.start, "SIP/2.0 200 OK", "{what}");
        at_uas.join().expect("the UAS")
    })
}

/// As a UAS on `ua`: the next request forwarded to it, answered `status`.
fn receive_and_answer(ua: &Ua, status: u16, reason: &str) -> Message {
    let (request, from) = ua
        .next_request(FORWARDED_WITHIN)
        .unwrap_or_else(|| panic!("nothing was forwarded to {} within {FORWARDED_WITHIN:?}", ua.local));
    ua.respond(&request, from, status, reason);
    request
}

/// Nothing reaches `ua` within a short while (the proxy forwards at once,
/// so anything it would send has been sent by the time its answer arrived).
fn assert_nothing_forwarded(ua: &Ua) {
    if let Some((request, _)) = ua.next_request(Duration::from_millis(300)) {
        panic!("{} received `{}`, which the proxy should not have forwarded to it", ua.local, request.start);
    }
}

// ----- SEC-5, REG-5: users are authenticated (digest) -------------------------

/// REG-5: a REGISTER without credentials is challenged (401, SHA-256 and MD5);
/// with alice's digest credentials (for either challenge) it binds her
/// Contact (200). Refused: the same credentials replayed, a wrong password
/// (403 Authentication Failed), and alice's valid credentials used to
/// register bob (403 Identity Mismatch), which binds nothing.
#[test]
fn reg5_register_with_digest_and_refusals() {
    let proxy = Sipwarden::start(&Config::bundle());
    let alice = Ua::bind(LOOPBACK, proxy.udp);

    let request = registration("alice", DOMAIN, &alice.contact("alice"));
    let challenge = alice.exchange(&request);
    assert_eq!(challenge.start, "SIP/2.0 401 Unauthorized");
    assert_two_challenges(&challenge, "WWW-Authenticate");
    let answered = request.answering(&challenge, ALICE);
    let response = alice.exchange(&answered);
    assert_eq!(response.start, "SIP/2.0 200 OK");
    assert_eq!(contact_uris(&response), [format!("sip:alice@{}", alice.local)]);

    // The same credentials again (a new transaction, the nonce count not
    // advanced): a replay.
    let response = alice.exchange(&answered);
    assert_eq!(response.start, "SIP/2.0 403 Authentication Failed", "replayed credentials");

    // A client that answers the MD5 challenge (the second) is accepted too.
    let request = registration("alice", DOMAIN, &alice.contact("alice"));
    let challenge = alice.exchange(&request);
    let md5 = &challenges(&challenge)[1];
    assert_eq!(md5.algorithm(), "MD5");
    let mut answered = request.clone();
    answered.cseq += 1;
    answered.extra.push(format!("Authorization: {}", credentials_for(md5, ALICE, "REGISTER", &request.uri)));
    assert_eq!(alice.exchange(&answered).start, "SIP/2.0 200 OK", "REGISTER answering the MD5 challenge");

    let wrong = Credentials { username: "alice", password: "not-alice-secret" };
    let (_, response) = alice.exchange_authenticated(&registration("alice", DOMAIN, &alice.contact("alice")), wrong);
    assert_eq!(response.start, "SIP/2.0 403 Authentication Failed");

    let (_, response) = alice.exchange_authenticated(&registration("bob", DOMAIN, &alice.contact("bob")), ALICE);
    assert_eq!(response.start, "SIP/2.0 403 Identity Mismatch");

    // bob's own query (a REGISTER without Contact) shows no binding was made.
    let query = Outgoing::new("REGISTER", "sip:127.0.0.1", &aor("bob", DOMAIN)).header("To: <sip:bob@127.0.0.1>");
    let (_, response) = alice.exchange_authenticated(&query, BOB);
    assert_eq!(response.start, "SIP/2.0 200 OK");
    assert_eq!(contact_uris(&response), Vec::<String>::new(), "bob's bindings");
}

/// SEC-5: alice's MESSAGE to bob is challenged (407), and with her digest
/// credentials reaches bob's sipp UAS (`message_uas_asserted`), which
/// requires `P-Asserted-Identity: <sip:alice@127.0.0.1>` and no
/// Proxy-Authorization. Refused first: a wrong password (403 Authentication
/// Failed) and alice's credentials on a MESSAGE from bob (403 Identity
/// Mismatch); bob's UAS plays one call only, the allowed one.
#[test]
fn sec5_message_with_digest_reaches_bob_asserted() {
    let proxy = Sipwarden::start(&Config::bundle());
    let bob_uas = SocketAddr::new(LOOPBACK, free_port());
    let bob = Ua::bind(LOOPBACK, proxy.udp);
    register(&bob, BOB, DOMAIN, &format!("<sip:bob@{bob_uas}>"));
    let bob_side = Sipp::uas("message_uas_asserted").service("bob").local(bob_uas).start();

    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let message =
        |from: &str| Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &aor(from, DOMAIN)).body("text/plain", "hello bob");
    let wrong = Credentials { username: "alice", password: "alice-secret-not" };
    let (challenge, response) = alice.exchange_authenticated(&message("alice"), wrong);
    assert_eq!(challenge.start, "SIP/2.0 407 Proxy Authentication Required");
    assert_eq!(response.start, "SIP/2.0 403 Authentication Failed");
    let (_, response) = alice.exchange_authenticated(&message("bob"), ALICE);
    assert_eq!(response.start, "SIP/2.0 403 Identity Mismatch");

    let (challenge, response) = alice.exchange_authenticated(&message("alice"), ALICE);
    assert_two_challenges(&challenge, "Proxy-Authenticate");
    assert_all_succeeded(&[&bob_side.wait()]);
    assert_eq!(response.start, "SIP/2.0 200 OK");
    assert_eq!(response.header("X-Asserted-Identity"), Some("<sip:alice@127.0.0.1>"), "what bob's UAS saw");
}

/// One reading of an identity everywhere (issue 11): `sip:%61lice@…` is
/// `sip:alice@…` (RFC 3261 §19.1.4) to the identity policy, the registrar
/// and routing alike, because the host and the plugins read URIs with the
/// same grammar. alice registers as `%61lice` with her own credentials and
/// is bound as alice; a MESSAGE to either spelling reaches her device; her
/// MESSAGE from `%61lice` is hers, and her credentials on a From of `%62ob`
/// (bob) are refused as bob's identity.
#[test]
fn an_escaped_user_is_the_same_user_to_identity_registrar_and_routing() {
    let proxy = Sipwarden::start(&Config::bundle());
    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let bob = Ua::bind(LOOPBACK, proxy.udp);

    let response = register(&alice, ALICE, DOMAIN, &alice.contact("alice"));
    assert_eq!(contact_uris(&response), [format!("sip:alice@{}", alice.local)]);
    let (challenge, response) =
        alice.exchange_authenticated(&registration("%61lice", DOMAIN, &alice.contact("alice")), ALICE);
    assert_eq!(challenge.start, "SIP/2.0 401 Unauthorized");
    assert_eq!(response.start, "SIP/2.0 200 OK", "alice registering as %61lice with her own credentials");
    assert_eq!(contact_uris(&response), [format!("sip:alice@{}", alice.local)], "one binding, under alice");
    register(&bob, BOB, DOMAIN, &bob.contact("bob"));

    for target in ["sip:alice@127.0.0.1", "sip:%61lice@127.0.0.1"] {
        let message = Outgoing::new("MESSAGE", target, &aor("bob", DOMAIN)).body("text/plain", "hello alice");
        let forwarded = std::thread::scope(|scope| {
            let at_alice = scope.spawn(|| receive_and_answer(&alice, 200, "OK"));
            let (challenge, response) = bob.exchange_authenticated(&message, BOB);
            assert_eq!(challenge.start, "SIP/2.0 407 Proxy Authentication Required");
            assert_eq!(response.start, "SIP/2.0 200 OK", "bob's MESSAGE to {target}");
            at_alice.join().expect("alice's device")
        });
        assert_eq!(forwarded.header("P-Asserted-Identity"), Some("<sip:bob@127.0.0.1>"), "to {target}");
    }

    let from_escaped = Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &aor("%61lice", DOMAIN)).body("text/plain", "hi");
    let forwarded = std::thread::scope(|scope| {
        let at_bob = scope.spawn(|| receive_and_answer(&bob, 200, "OK"));
        let (_, response) = alice.exchange_authenticated(&from_escaped, ALICE);
        assert_eq!(response.start, "SIP/2.0 200 OK", "alice's MESSAGE from %61lice");
        at_bob.join().expect("bob's device")
    });
    assert_eq!(forwarded.header("P-Asserted-Identity"), Some("<sip:alice@127.0.0.1>"));

    let as_bob = Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &aor("%62ob", DOMAIN)).body("text/plain", "hi");
    let (_, response) = alice.exchange_authenticated(&as_bob, ALICE);
    assert_eq!(response.start, "SIP/2.0 403 Identity Mismatch", "alice's credentials on a From of %62ob");
    assert_nothing_forwarded(&bob);
}

// ----- SEC-3: identity confirmed for messages, profile data, privacy ----------

/// SEC-3 (a) and (b): a MESSAGE or INVITE without credentials gets 407 with
/// two Proxy-Authenticate (SHA-256 first), and so does a SUBSCRIBE to
/// presence or ua-profile (profile data); a SUBSCRIBE to the `dialog`
/// package is not profile data and reaches bob's device unchallenged.
#[test]
fn sec3_a_b_messages_and_profile_subscriptions_are_challenged() {
    let proxy = Sipwarden::start(&Config::bundle());
    let bob = Ua::bind(LOOPBACK, proxy.udp);
    register(&bob, BOB, DOMAIN, &bob.contact("bob"));
    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let from = aor("alice", DOMAIN);

    for request in [
        Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &from).body("text/plain", "hi"),
        Outgoing::new("INVITE", "sip:bob@127.0.0.1", &from).header(&format!("Contact: {}", alice.contact("alice"))),
        Outgoing::new("SUBSCRIBE", "sip:bob@127.0.0.1", &from).header("Event: presence").header("Expires: 600"),
        Outgoing::new("SUBSCRIBE", "sip:bob@127.0.0.1", &from).header("Event: ua-profile;profile-type=user"),
    ] {
        assert_proxy_challenged(&alice, &request);
    }
    assert_nothing_forwarded(&bob);

    let dialog = Outgoing::new("SUBSCRIBE", "sip:bob@127.0.0.1", &from)
        .header("Event: dialog")
        .header("Expires: 600")
        .header(&format!("Contact: {}", alice.contact("alice")));
    let text = dialog.render(alice.local);
    let forwarded = forward_and_answer(&alice, &text, &bob, "SUBSCRIBE dialog");
    assert!(forwarded.start.starts_with("SUBSCRIBE sip:bob@127.0.0.1:"), "bob got `{}`", forwarded.start);
    assert_eq!(forwarded.header("Event"), Some("dialog"));
}

/// SEC-3 (c): privacy-policy changes need a confirmed identity: a PUBLISH
/// (what watchers see), a SUBSCRIBE to `presence.winfo` (who asks to watch)
/// or to `xcap-diff` (policy documents), and any request carrying a
/// `pres-rules` document, are answered 407.
#[test]
fn sec3_c_privacy_changes_are_challenged() {
    let proxy = Sipwarden::start(&Config::bundle());
    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let own = aor("alice", DOMAIN);
    let pidf =
        "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@127.0.0.1\"/>";
    let rules = "<?xml version=\"1.0\"?><ruleset xmlns=\"urn:ietf:params:xml:ns:common-policy\"/>";
    for request in [
        Outgoing::new("PUBLISH", "sip:alice@127.0.0.1", &own)
            .header("Event: presence")
            .body("application/pidf+xml", pidf),
        Outgoing::new("SUBSCRIBE", "sip:alice@127.0.0.1", &own).header("Event: presence.winfo"),
        Outgoing::new("SUBSCRIBE", "sip:alice@127.0.0.1", &own).header("Event: xcap-diff"),
        Outgoing::new("MESSAGE", "sip:alice@127.0.0.1", &own).body("application/pres-rules+xml", rules),
    ] {
        assert_proxy_challenged(&alice, &request);
    }
    // With alice's credentials the PUBLISH passes identity and reaches
    // routing: alice has no registered device, so 480.
    let publish = Outgoing::new("PUBLISH", "sip:alice@127.0.0.1", &own)
        .header("Event: presence")
        .body("application/pidf+xml", pidf);
    let (_, response) = alice.exchange_authenticated(&publish, ALICE);
    assert_eq!(response.start, "SIP/2.0 480 Temporarily Unavailable", "PUBLISH with credentials");
}

/// SEC-3 through the SIP/IP core (RFC 3325): with identity's
/// `trusted-peers = ["127.0.0.2/32"]`, a MESSAGE from 127.0.0.2 asserting
/// alice reaches bob without digest, its P-Asserted-Identity intact; one
/// asserting bob while From alice is refused (403 Identity Mismatch). The
/// same asserting MESSAGE from 127.0.0.1 is challenged (407), and an
/// unchallenged request from there reaches bob with P-Asserted-Identity and
/// P-Preferred-Identity removed.
#[test]
fn sec3_trusted_core_asserts_identity() {
    let config =
        Config::bundle().manifest_line("identity", "trusted-peers = []", r#"trusted-peers = ["127.0.0.2/32"]"#);
    let proxy = Sipwarden::start(&config);
    let bob = Ua::bind(LOOPBACK, proxy.udp);
    register(&bob, BOB, DOMAIN, &bob.contact("bob"));
    let core = Ua::bind(OTHER, proxy.udp);
    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let asserted = |asserting: &str| {
        Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &aor("alice", DOMAIN))
            .header(&format!("P-Asserted-Identity: {}", aor(asserting, DOMAIN)))
            .body("text/plain", "from the core")
    };

    let text = asserted("alice").render(core.local);
    let forwarded = forward_and_answer(&core, &text, &bob, "asserted MESSAGE from the trusted core");
    assert_eq!(forwarded.header("P-Asserted-Identity"), Some("<sip:alice@127.0.0.1>"));
    assert_eq!(forwarded.header("Proxy-Authorization"), None);

    let response = core.exchange(&asserted("bob"));
    assert_eq!(response.start, "SIP/2.0 403 Identity Mismatch", "the core asserts bob for alice's From");

    let response = alice.exchange(&asserted("alice"));
    assert_eq!(response.start, "SIP/2.0 407 Proxy Authentication Required", "asserted MESSAGE from 127.0.0.1");
    assert_nothing_forwarded(&bob);

    let dialog = Outgoing::new("SUBSCRIBE", "sip:bob@127.0.0.1", &aor("alice", DOMAIN))
        .header("Event: dialog")
        .header("P-Asserted-Identity: <sip:alice@127.0.0.1>")
        .header("P-Preferred-Identity: <sip:alice@127.0.0.1>")
        .header(&format!("Contact: {}", alice.contact("alice")));
    let text = dialog.render(alice.local);
    let forwarded = forward_and_answer(&alice, &text, &bob, "SUBSCRIBE dialog from 127.0.0.1");
    assert_eq!(forwarded.header("P-Asserted-Identity"), None, "an untrusted assertion reached bob");
    assert_eq!(forwarded.header("P-Preferred-Identity"), None, "an untrusted preference reached bob");
}

// ----- SEC-4, REG-1: signalling and registration data over TLS ----------------

/// SEC-4 / REG-1 with secure-transport's `trusted-peers = []`: a REGISTER
/// (and a MESSAGE) over UDP or TCP is refused with 403 TLS Required and
/// `Warning: 399 sipwarden "Use TLS"`; the REGISTER over TLS is challenged
/// (401) and, with alice's credentials, binds her TLS Contact (200).
#[test]
fn sec4_reg1_registration_only_over_tls() {
    let pki = TestPki::new();
    let config = Config::bundle()
        .manifest_line("secure-transport", "trusted-peers = ", "trusted-peers = []")
        .tls_identity(pki.certificate_pem.clone(), pki.key_pem.clone());
    let proxy = Sipwarden::start(&config);

    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let plain = registration("alice", DOMAIN, &alice.contact("alice"));
    let message = Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", &aor("alice", DOMAIN)).body("text/plain", "hi");
    for request in [&plain, &message] {
        let response = alice.exchange(request);
        assert_eq!(response.start, "SIP/2.0 403 TLS Required", "{} over UDP", request.method);
        assert_eq!(response.header("Warning"), Some("399 sipwarden \"Use TLS\""), "{} over UDP", request.method);
    }
    let over_tcp = harness::sip::tcp_exchange(proxy.tcp, |local| plain.clone().transport("TCP").render(local))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(over_tcp.start, "SIP/2.0 403 TLS Required", "REGISTER over TCP");
    assert_eq!(over_tcp.header("Warning"), Some("399 sipwarden \"Use TLS\""));

    let mut tls = TlsClient::connect(proxy.tls, &pki.ca);
    let contact = format!("<sip:alice@{};transport=tls>", tls.local);
    let request = registration("alice", DOMAIN, &contact).transport("TLS");
    let challenge = tls.exchange(&request.render(tls.local));
    assert_eq!(challenge.start, "SIP/2.0 401 Unauthorized", "REGISTER over TLS");
    assert_two_challenges(&challenge, "WWW-Authenticate");
    let response = tls.exchange(&request.answering(&challenge, ALICE).render(tls.local));
    assert_eq!(response.start, "SIP/2.0 200 OK", "REGISTER over TLS with digest");
    assert_eq!(contact_uris(&response), [format!("sip:alice@{};transport=tls", tls.local)]);
}

/// SEC-4, RFC 3261 §26.2.2: a `sips:` Request-URI over plain TCP is refused
/// (403 SIPS Requires TLS), even from loopback, which the bundled manifest
/// trusts for plain transport; the same request with a `sip:` URI passes
/// secure-transport and is challenged by identity.
#[test]
fn sec4_sips_request_over_tcp_is_refused() {
    let proxy = Sipwarden::start(&Config::bundle());
    let sips = Outgoing::new("MESSAGE", "sips:bob@127.0.0.1", &aor("alice", DOMAIN))
        .transport("TCP")
        .body("text/plain", "secure please");
    let response = harness::sip::tcp_exchange(proxy.tcp, |local| sips.render(local)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.start, "SIP/2.0 403 SIPS Requires TLS");
    assert_eq!(response.header("Warning"), Some("399 sipwarden \"Use TLS\""));

    let sip = Outgoing { uri: "sip:bob@127.0.0.1".into(), ..sips.clone() };
    let response = harness::sip::tcp_exchange(proxy.tcp, |local| sip.render(local)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.start, "SIP/2.0 407 Proxy Authentication Required");
}

// ----- SEC-2: numbers reach a user only through a unique look-up --------------

/// The bundle with the registrar and identity also serving `example.com`,
/// the domain of the demo directory's User IDs. Identity stays in the chain
/// (it runs before lookup-guard), so these tests authenticate as alice.
fn directory_config() -> Config {
    let mut config = Config::bundle().manifest_line(
        "identity",
        "domains = [",
        r#"domains = ["127.0.0.1", "localhost", "example.com"]"#,
    );
    config.registrar = Some(vec!["127.0.0.1".into(), "localhost".into(), "example.com".into()]);
    config
}

/// SEC-2 allowed: a MESSAGE to `tel:+1-555-765-4321`, bob's only number in
/// the bundled directory, is retargeted to `sip:bob@example.com` and
/// reaches bob's registered device.
#[test]
fn sec2_number_with_one_user_id_reaches_that_user() {
    in_private_network("sec2_number_with_one_user_id_reaches_that_user", || {
        let proxy = Sipwarden::start(&directory_config());
        let bob = Ua::bind(LOOPBACK, proxy.udp);
        register(&bob, BOB, "example.com", &bob.contact("bob"));

        let alice = Ua::bind(LOOPBACK, proxy.udp);
        let message =
            Outgoing::new("MESSAGE", "tel:+1-555-765-4321", &aor("alice", DOMAIN)).body("text/plain", "hi by number");
        let challenge = alice.exchange(&message);
        assert_eq!(challenge.start, "SIP/2.0 407 Proxy Authentication Required");
        let text = message.answering(&challenge, ALICE).render(alice.local);
        let forwarded = forward_and_answer(&alice, &text, &bob, "MESSAGE to bob's number");
        assert_eq!(forwarded.start, format!("MESSAGE sip:bob@{} SIP/2.0", bob.local), "at bob's device");
        assert_eq!(forwarded.body, b"hi by number");
    });
}

/// SEC-2 refused (each request authenticated as alice first): a presence
/// SUBSCRIBE to a number nobody has (404 Number Not Found), to the shared
/// line with two User IDs (485 Ambiguous), and a MESSAGE to a malformed
/// `tel:` (484 naming the problem).
#[test]
fn sec2_numbers_without_a_unique_user_id_are_refused() {
    in_private_network("sec2_numbers_without_a_unique_user_id_are_refused", || {
        let proxy = Sipwarden::start(&directory_config());
        let alice = Ua::bind(LOOPBACK, proxy.udp);
        let subscribe = |number: &str| {
            Outgoing::new("SUBSCRIBE", number, &aor("alice", DOMAIN))
                .header("Event: presence")
                .header(&format!("Contact: {}", alice.contact("alice")))
        };
        let cases = [
            (subscribe("tel:+1-555-000-0000"), "SIP/2.0 404 Number Not Found"),
            (subscribe("tel:+1-555-000-1111"), "SIP/2.0 485 Ambiguous"),
            (
                Outgoing::new("MESSAGE", "tel:+1-555-12x4", &aor("alice", DOMAIN)).body("text/plain", "hi"),
                "SIP/2.0 484 Address Incomplete: the number contains 'x', which is neither a digit nor a visual \
                 separator",
            ),
        ];
        for (request, expected) in cases {
            let (challenge, response) = alice.exchange_authenticated(&request, ALICE);
            assert_eq!(challenge.start, "SIP/2.0 407 Proxy Authentication Required", "{}", request.uri);
            assert_eq!(response.start, expected, "{} {}", request.method, request.uri);
        }
    });
}

// ----- SEC-1: registration attempts are recorded -------------------------------

/// SEC-1 with secure-transport trusting only 127.0.0.1: a challenged
/// REGISTER (401), the same with digest (200), and one from 127.0.0.2 over
/// UDP (403 TLS Required) sent three times with the same branch (the copies
/// are retransmissions: one right behind the first, one after the 403),
/// give exactly three records, compared field by field.
#[test]
fn sec1_each_registration_attempt_is_recorded_once() {
    let config =
        Config::bundle().manifest_line("secure-transport", "trusted-peers = ", r#"trusted-peers = ["127.0.0.1/32"]"#);
    let proxy = Sipwarden::start(&config);
    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let request = registration("alice", DOMAIN, &alice.contact("alice"));
    let challenge = alice.exchange(&request);
    assert_eq!(challenge.start, "SIP/2.0 401 Unauthorized");
    let answered = request.answering(&challenge, ALICE);
    assert_eq!(alice.exchange(&answered).start, "SIP/2.0 200 OK");

    let elsewhere = Ua::bind(OTHER, proxy.udp);
    let refused = registration("alice", DOMAIN, &elsewhere.contact("alice"));
    let text = refused.render(elsewhere.local);
    // The first copy, a retransmission right behind it (while the chain
    // decides), and one more after the final response.
    elsewhere.send_text(&text);
    for attempt in ["retransmitted at once", "retransmitted after the response"] {
        let response = elsewhere.exchange_text(&text).unwrap_or_else(|e| panic!("{attempt}: {e}"));
        assert_eq!(response.start, "SIP/2.0 403 TLS Required", "{attempt} REGISTER from 127.0.0.2");
    }

    // Records are written before the response leaves: all three are on disk.
    let records = read_trail(&proxy.audit_path()).unwrap_or_else(|e| panic!("{e}"));
    let records: Vec<_> = records.iter().map(without_time).collect();
    let record = |ua: &Ua, call_id: &str, cseq: u32, outcome: serde_json::Value| {
        let mut record = json!({
            "plugin": "audit",
            "event": "register",
            "aor": "sip:alice@127.0.0.1",
            "contacts": format!("<sip:alice@{}>", ua.local),
            "expires": 300,
            "source": ua.local.ip().to_string(),
            "port": ua.local.port(),
            "transport": "udp",
            "tls-peer": null,
            "call-id": call_id,
            "cseq": format!("{cseq} REGISTER"),
        });
        for (key, value) in outcome.as_object().expect("an object") {
            record[key] = value.clone();
        }
        record
    };
    let expected = vec![
        record(&alice, &request.call_id, 1, json!({"authenticated": "none", "status": 401, "reason": "Unauthorized"})),
        record(
            &alice,
            &request.call_id,
            2,
            json!({
                "authenticated": "digest",
                "username": "alice",
                "asserted-identity": "sip:alice@127.0.0.1",
                "status": 200,
                "reason": "OK",
            }),
        ),
        record(
            &elsewhere,
            &refused.call_id,
            1,
            json!({"authenticated": "none", "status": 403, "reason": "TLS Required"}),
        ),
    ];
    assert_eq!(records, expected, "the audit trail {}", proxy.audit_path().display());
}

/// SEC-1 (with SEC-3, RFC 3325 §5): a REGISTER carrying a forged
/// `P-Asserted-Identity` from an untrusted source must not be recorded as
/// authenticated: refused by secure-transport (from 127.0.0.2 over UDP, 403)
/// or challenged by identity (from 127.0.0.1, 401), its record says
/// `"authenticated": "none"` and has no `asserted-identity`.
#[test]
fn sec1_a_forged_assertion_is_not_recorded_as_authenticated() {
    let config =
        Config::bundle().manifest_line("secure-transport", "trusted-peers = ", r#"trusted-peers = ["127.0.0.1/32"]"#);
    let proxy = Sipwarden::start(&config);
    let mut attempts = Vec::new();
    for (ip, expected) in [(OTHER, "SIP/2.0 403 TLS Required"), (LOOPBACK, "SIP/2.0 401 Unauthorized")] {
        let ua = Ua::bind(ip, proxy.udp);
        let forged =
            registration("alice", DOMAIN, &ua.contact("alice")).header("P-Asserted-Identity: <sip:alice@127.0.0.1>");
        assert_eq!(ua.exchange(&forged).start, expected, "forged REGISTER from {ip}");
        attempts.push(forged.call_id);
    }
    let records = read_trail(&proxy.audit_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records.len(), 2, "{records:?}");
    for (record, call_id) in records.iter().zip(&attempts) {
        assert_eq!(record.get("call-id"), Some(&json!(call_id)));
        assert_eq!(record.get("authenticated"), Some(&json!("none")), "forged assertion recorded: {record:?}");
        assert_eq!(record.get("asserted-identity"), None, "forged assertion recorded: {record:?}");
    }
}

// ----- REG-3, REG-4: several devices per user, re-registration -----------------

fn device_contact(ua: &Ua, instance: &str) -> String {
    format!("<sip:alice@{}>;+sip.instance=\"<urn:uuid:{instance}>\"", ua.local)
}

/// bob's MESSAGE to alice (with his digest credentials), forked by the
/// registrar: every UAS in `reached` must get it and answer 200.
fn message_alice(proxy: &Sipwarden, reached: &[&Ua]) -> Vec<Message> {
    let bob = Ua::bind(LOOPBACK, proxy.udp);
    let message = Outgoing::new("MESSAGE", "sip:alice@127.0.0.1", &aor("bob", DOMAIN)).body("text/plain", "to all");
    let challenge = bob.exchange(&message);
    assert_eq!(challenge.start, "SIP/2.0 407 Proxy Authentication Required");
    let text = message.answering(&challenge, BOB).render(bob.local);
    std::thread::scope(|scope| {
        let devices: Vec<_> = reached.iter().map(|ua| scope.spawn(|| receive_and_answer(ua, 200, "OK"))).collect();
        let response = bob.exchange_text(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.start, "SIP/2.0 200 OK", "bob's MESSAGE to alice");
        devices.into_iter().map(|device| device.join().expect("a device of alice")).collect()
    })
}

/// REG-3 / REG-4: alice registers two devices (different `+sip.instance`):
/// two bindings, and a MESSAGE to her forks to both. The first device then
/// re-registers from another port with the same instance: still two
/// bindings (the old port replaced), and the next MESSAGE reaches the new
/// port and the second device, not the old port.
#[test]
fn reg3_reg4_two_devices_and_a_reregistration() {
    let proxy = Sipwarden::start(&Config::bundle());
    let (first, second) = (Ua::bind(LOOPBACK, proxy.udp), Ua::bind(LOOPBACK, proxy.udp));
    let uuid = |n: u8| format!("00000000-0000-4000-8000-0000000000{n:02x}");
    register(&first, ALICE, DOMAIN, &device_contact(&first, &uuid(1)));
    let response = register(&second, ALICE, DOMAIN, &device_contact(&second, &uuid(2)));
    let mut bound = contact_uris(&response);
    bound.sort();
    let mut expected = vec![format!("sip:alice@{}", first.local), format!("sip:alice@{}", second.local)];
    expected.sort();
    assert_eq!(bound, expected, "alice's bindings after two devices registered");

    for received in message_alice(&proxy, &[&first, &second]) {
        assert_eq!(received.body, b"to all");
    }

    let moved = Ua::bind(LOOPBACK, proxy.udp);
    let response = register(&moved, ALICE, DOMAIN, &device_contact(&moved, &uuid(1)));
    let mut bound = contact_uris(&response);
    bound.sort();
    let mut expected = vec![format!("sip:alice@{}", moved.local), format!("sip:alice@{}", second.local)];
    expected.sort();
    assert_eq!(bound, expected, "alice's bindings after the first device moved");

    message_alice(&proxy, &[&moved, &second]);
    assert_nothing_forwarded(&first);
}
