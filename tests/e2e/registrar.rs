//! Registrar mode: sipwarden's embedded registrar serves `127.0.0.1`. alice
//! and bob register through it with sipp; alice's MESSAGE and her call
//! (INVITE, ACK, BYE) reach bob's sipp UAS through the proxy, and the policy
//! chain runs on that path.

mod harness;

use std::net::SocketAddr;

use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, assert_all_succeeded};
use harness::{LOOPBACK, Transport, free_port};

/// The domain the embedded registrar serves.
const DOMAIN: &str = "127.0.0.1";

fn proxy_address(proxy: &Sipwarden, transport: Transport) -> SocketAddr {
    match transport {
        Transport::Udp => proxy.udp,
        Transport::Tcp => proxy.tcp,
    }
}

/// Register `sip:USER@127.0.0.1` (over UDP) with the Contact
/// `sip:USER@127.0.0.1:PORT;transport=T` of the sipp that plays the user.
///
/// The REGISTER goes over UDP even for TCP users: a binding made over a
/// connection is reached over that connection (RFC 5626 flows), and the
/// sipp that registers is not the one that answers the calls.
fn register(proxy: &Sipwarden, user: &str, contact: SocketAddr, transport: Transport) {
    let outcome = Sipp::uac("register", proxy.udp)
        .service(user)
        .key("domain", DOMAIN)
        .key("contact_port", contact.port())
        .key("contact_transport", transport.name())
        .key("expires", 300)
        .run();
    assert_all_succeeded(&[&outcome]);
}

/// Play one exchange: bob's UAS `uas` is started on `bob`, then alice's UAC
/// `uac` runs from `alice` through the proxy; both must succeed.
fn exchange(proxy: &Sipwarden, transport: Transport, (alice, uac): (SocketAddr, &str), (bob, uas): (SocketAddr, &str)) {
    let bob_side = Sipp::uas(uas).service("bob").local(bob).transport(transport).start();
    let alice_side = Sipp::uac(uac, proxy_address(proxy, transport))
        .service("bob")
        .key("domain", DOMAIN)
        .local(alice)
        .transport(transport)
        .run();
    let bob_side = bob_side.wait();
    assert_all_succeeded(&[&alice_side, &bob_side]);
}

fn alice_messages_and_calls_bob(transport: Transport) {
    let proxy = Sipwarden::start(&Config::registrar());
    let alice = SocketAddr::new(LOOPBACK, free_port());
    let bob = SocketAddr::new(LOOPBACK, free_port());
    register(&proxy, "alice", alice, transport);
    register(&proxy, "bob", bob, transport);

    exchange(&proxy, transport, (alice, "message_uac"), (bob, "message_uas"));
    exchange(&proxy, transport, (alice, "invite_uac"), (bob, "invite_uas"));
}

#[test]
fn registered_users_exchange_a_message_and_a_call_over_udp() {
    alice_messages_and_calls_bob(Transport::Udp);
}

#[test]
fn registered_users_exchange_a_message_and_a_call_over_tcp() {
    alice_messages_and_calls_bob(Transport::Tcp);
}

/// The block-scanners example policy, loaded from the plugin directory,
/// answers a scanner's MESSAGE with 403 and marks everything else with
/// `X-Screened-By: block-scanners`, which bob's UAS requires.
#[test]
fn the_policy_chain_decides_in_the_signalling_path() {
    let config = Config::registrar().plugin("block_scanners", "examples/plugins/block-scanners/block-scanners.toml");
    let proxy = Sipwarden::start(&config);
    let bob = SocketAddr::new(LOOPBACK, free_port());
    register(&proxy, "bob", bob, Transport::Udp);

    let bob_side = Sipp::uas("message_uas_screened").service("bob").local(bob).start();
    let scanner = Sipp::uac("message_scanner", proxy.udp).service("bob").key("domain", DOMAIN).run();
    let alice = Sipp::uac("message_uac", proxy.udp).service("bob").key("domain", DOMAIN).run();
    let bob_side = bob_side.wait();
    assert_all_succeeded(&[&scanner, &alice, &bob_side]);
}
