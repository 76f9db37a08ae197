//! Browsers as SIP clients (RFC 7118, REG-4): a user agent that behaves as
//! JsSIP does (the `sip` subprotocol, a random `.invalid` host in Via and
//! Contact) registers with digest over secure WebSocket through the bundled
//! policies, exchanges MESSAGEs both ways with a UDP user and calls it
//! (both transports recorded in Record-Route); the same REGISTER over plain
//! WebSocket is refused by secure-transport (SEC-4, REG-1); bad input over
//! WebSocket is answered or closed, and the proxy keeps serving. The audit
//! trail records each REGISTER's transport.

mod harness;

use std::time::Duration;

use harness::digest::{ALICE, BOB};
use harness::proxy::{Config, Sipwarden};
use harness::tls_client::TestPki;
use harness::ua::{Outgoing, Ua};
use harness::ws::WsUa;

const WAIT: Duration = Duration::from_secs(5);

/// The bundled policies, with secure-transport trusting only 127.0.0.2 (the
/// UDP user's address): the browsers, on 127.0.0.1, must use TLS like
/// anyone on the internet.
fn proxy(pki: &TestPki) -> Sipwarden {
    let config = Config::bundle()
        .manifest_line("secure-transport", "trusted-peers = ", "trusted-peers = [\"127.0.0.2/32\"]")
        .tls_identity(pki.certificate_pem.clone(), pki.key_pem.clone());
    Sipwarden::start(&config)
}

fn register(browser: &WsUa, user: &str) -> Outgoing {
    Outgoing::new("REGISTER", "sip:127.0.0.1", &format!("<sip:{user}@127.0.0.1>"))
        .header(&format!("To: <sip:{user}@127.0.0.1>"))
        .header(&format!("Contact: {}", browser.contact(user)))
        .header("Expires: 300")
}

#[test]
fn a_browser_registers_over_wss_and_exchanges_messages_with_a_udp_user() {
    let pki = TestPki::new();
    let proxy = proxy(&pki);

    // Over plain WebSocket, from an untrusted source: refused before the
    // registrar or identity see it.
    let mut plain = WsUa::connect(proxy.ws, None).expect("a ws connection");
    let refused = plain.exchange(&register(&plain, "alice"));
    assert_eq!((refused.status(), refused.reason()), (Some(403), "TLS Required"), "{}", refused.start);

    // Over secure WebSocket: challenged by identity, then registered.
    let mut alice = WsUa::connect(proxy.wss, Some(&pki.ca)).expect("a wss connection");
    let (challenge, registered) = alice.exchange_authenticated(&register(&alice, "alice"), ALICE);
    assert_eq!(challenge.status(), Some(401));
    assert_eq!(registered.status(), Some(200), "{}", registered.start);
    assert!(registered.header("Contact").is_some_and(|c| c.contains(".invalid")), "{:?}", registered.headers);
    // The audit trail (SEC-1) says how each attempt arrived.
    let trail = harness::audit::read_trail(&proxy.audit_path()).expect("the audit trail");
    let transports: Vec<_> = trail.iter().filter_map(|record| record.get("transport")?.as_str()).collect();
    assert!(transports.contains(&"ws") && transports.contains(&"wss"), "{transports:?}");

    // bob, a UDP phone on a trusted address, registers too.
    let bob = Ua::bind("127.0.0.2".parse().unwrap(), proxy.udp);
    let bob_register = Outgoing::new("REGISTER", "sip:127.0.0.1", "<sip:bob@127.0.0.1>")
        .header("To: <sip:bob@127.0.0.1>")
        .header(&format!("Contact: {}", bob.contact("bob")))
        .header("Expires: 300");
    let (_, bob_registered) = bob.exchange_authenticated(&bob_register, BOB);
    assert_eq!(bob_registered.status(), Some(200), "{}", bob_registered.start);

    // bob → alice: over alice's own connection, to her .invalid Contact.
    let to_alice =
        Outgoing::new("MESSAGE", "sip:alice@127.0.0.1", "<sip:bob@127.0.0.1>").body("text/plain", "hi alice");
    let bob_side = std::thread::spawn(move || {
        let (_, delivered) = bob.exchange_authenticated(&to_alice, BOB);
        (bob, delivered)
    });
    let message = alice.next_request(WAIT).expect("bob's MESSAGE reaches the browser");
    assert!(message.start.starts_with("MESSAGE sip:alice@") && message.start.contains(".invalid"), "{}", message.start);
    assert_eq!(message.body, b"hi alice");
    alice.respond(&message, 200, "OK");
    let (bob, delivered) = bob_side.join().expect("bob's side");
    assert_eq!(delivered.status(), Some(200), "{}", delivered.start);

    // alice → bob, from the browser to the phone.
    let to_bob = Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", "<sip:alice@127.0.0.1>").body("text/plain", "hi bob");
    let bob_side = std::thread::spawn(move || {
        let (message, from) = bob.next_request(WAIT).expect("alice's MESSAGE reaches bob");
        bob.respond(&message, from, 200, "OK");
        (bob, message)
    });
    let (challenge, answered) = alice.exchange_authenticated(&to_bob, ALICE);
    assert_eq!(challenge.status(), Some(407));
    assert_eq!(answered.status(), Some(200), "{}", answered.start);
    let (bob, message) = bob_side.join().expect("bob's side");
    assert_eq!(message.body, b"hi bob");

    // A call from the browser to the phone crosses transports: the proxy
    // records both sides (RFC 5658), so that bob's in-dialog requests come
    // back over UDP and leave towards alice over her secure WebSocket.
    let call = Outgoing::new("INVITE", "sip:bob@127.0.0.1", "<sip:alice@127.0.0.1>")
        .header(&format!("Contact: {}", alice.contact("alice")));
    let bob_side = std::thread::spawn(move || {
        let (invite, from) = bob.next_request(WAIT).expect("alice's INVITE reaches bob");
        bob.respond(&invite, from, 486, "Busy Here");
        invite
    });
    let (_, busy) = alice.exchange_authenticated(&call, ALICE);
    assert_eq!(busy.status(), Some(486), "{}", busy.start);
    let invite = bob_side.join().expect("bob's side");
    let routes: Vec<&str> = invite.headers_named("Record-Route").collect();
    assert_eq!(
        routes,
        [
            format!("<sip:127.0.0.1:{};lr>", proxy.udp.port()),
            format!("<sip:127.0.0.1:{};transport=wss;lr>", proxy.wss.port())
        ],
        "{:?}",
        invite.headers
    );
}

#[test]
fn bad_input_over_websocket_is_answered_or_closed_and_others_are_served() {
    let pki = TestPki::new();
    let mut proxy = proxy(&pki);

    // Not SIP at all: no Via to answer to, so nothing comes back but the
    // connection stays usable, as a datagram's would.
    let mut client = WsUa::connect(proxy.ws, None).expect("a ws connection");
    client.send_text("hello, this is not SIP");
    assert!(client.receive(Duration::from_millis(500)).is_none(), "no answer to what has no Via");
    // A request that is malformed past its Via: answered 400.
    client.send_text(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKbad\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:bob@127.0.0.1>\r\nCall-ID: bad@x\r\nCSeq: one MESSAGE\r\nMax-Forwards: 70\r\n\r\n",
    );
    let answer = client.receive(WAIT).expect("an answer to a request it can answer");
    assert_eq!(answer.status(), Some(400), "{}", answer.start);

    // Without the sip subprotocol, or from an origin that is not listed
    // (none are, so any is allowed here): refused at the handshake.
    let error = WsUa::connect_with(proxy.ws, None, Some("chat"), None).err().expect("refused");
    assert!(error.to_string().contains("400"), "{error}");

    // Too big: closed with 1009.
    let mut big = WsUa::connect(proxy.ws, None).expect("a ws connection");
    big.send_text(&format!("OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Pad: {}\r\n\r\n", "x".repeat(70_000)));
    assert!(big.closed_within(WAIT), "an oversized message closes the connection");

    proxy.assert_serving("bad WebSocket input");
    let mut fresh = WsUa::connect(proxy.wss, Some(&pki.ca)).expect("a wss connection");
    let (_, registered) = fresh.exchange_authenticated(&register(&fresh, "alice"), ALICE);
    assert_eq!(registered.status(), Some(200), "{}", registered.start);
}
