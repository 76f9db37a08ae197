//! Upstream mode: without an embedded registrar sipwarden sends every request
//! to its `[upstream]` next hop — a sipp UAS, then Kamailio as registrar and
//! proxy.
//!
//! The upstream runs on another loopback address (127.0.0.2, 127.0.0.3) than
//! the clients (127.0.0.1), as it would on another host: sipwarden recognises
//! requests coming from its upstream by their source address.

mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use harness::kamailio::Kamailio;
use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, assert_all_succeeded};
use harness::{LOOPBACK, free_port, free_port_on};

/// A domain nobody serves locally: only the upstream knows where it goes.
const DOMAIN: &str = "example.test";

const UPSTREAM_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const KAMAILIO_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// 20 MESSAGEs, then 5 calls, at 50 a second: sipp → sipwarden → sipp.
#[test]
fn requests_for_other_domains_go_to_the_upstream() {
    let upstream = SocketAddr::new(UPSTREAM_IP, free_port_on(UPSTREAM_IP));
    let proxy = Sipwarden::start(&Config::upstream(&format!("sip:{upstream};transport=udp")));

    for (uac, uas, calls) in [("message_uac", "message_uas", 20), ("invite_uac", "invite_uas", 5)] {
        let next_hop = Sipp::uas(uas).local(upstream).calls(calls, 50).start();
        let client = Sipp::uac(uac, proxy.udp).key("domain", DOMAIN).calls(calls, 50).run();
        let next_hop = next_hop.wait();
        assert_all_succeeded(&[&client, &next_hop]);
    }
}

/// bob registers through sipwarden with Kamailio; alice's MESSAGE to bob goes
/// sipwarden → Kamailio (location look-up) → bob's UAS.
#[test]
fn kamailio_as_upstream_registrar_reaches_a_user_registered_through_the_proxy() {
    let mut kamailio = Kamailio::start(KAMAILIO_IP);
    let proxy = Sipwarden::start(&Config::upstream(&format!("sip:{};transport=udp", kamailio.addr)));
    let bob = SocketAddr::new(LOOPBACK, free_port());

    let registration = Sipp::uac("register", proxy.udp)
        .service("bob")
        .key("domain", DOMAIN)
        .key("contact_port", bob.port())
        .key("contact_transport", "udp")
        .key("expires", 300)
        .run();
    assert_all_succeeded(&[&registration]);

    let bob_side = Sipp::uas("message_uas").service("bob").local(bob).start();
    let alice = Sipp::uac("message_uac", proxy.udp).service("bob").key("domain", DOMAIN).run();
    let bob_side = bob_side.wait();
    assert_all_succeeded(&[&alice, &bob_side]);

    let log = kamailio.log();
    let relayed = format!("e2e: relaying MESSAGE from {} to sip:bob@{bob}", proxy.udp);
    assert!(log.contains(&relayed), "Kamailio did not log `{relayed}`; its log:\n{}", harness::tail(&log, 30));
    assert!(kamailio.is_running(), "Kamailio exited");
}
