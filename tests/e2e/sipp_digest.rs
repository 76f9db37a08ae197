//! The two-user MESSAGE of the README, with sipp's own digest: on the
//! bundled policies, bob and alice register answering the 401 with sipp's
//! `[authentication]`, and alice's MESSAGE, challenged with 407, reaches
//! bob's phone with her identity asserted (OMA SEC-5, REG-5, SEC-3 (a)).
//!
//! sipp 3.6 answers only the first challenge and only with MD5, and writes
//! the proxy's address as the digest `uri`: the proxy offers MD5 first and
//! skips the uri check (`algorithms = ["MD5", "SHA-256"]`, `check-uri =
//! false`; the embedded default offers MD5 alone, for its browser demo too).

mod harness;

use std::net::SocketAddr;

use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, exchange, register_with_digest};
use harness::{LOOPBACK, free_port};

const DOMAIN: &str = "127.0.0.1";

fn register(proxy: &Sipwarden, user: &str, password: &str, contact: SocketAddr) {
    register_with_digest(proxy.udp, DOMAIN, user, password, contact);
}

#[test]
fn users_register_and_message_with_sipps_digest() {
    let proxy = Sipwarden::start(&Config::bundle().sipp_digest());
    let (alice, bob) = (SocketAddr::new(LOOPBACK, free_port()), SocketAddr::new(LOOPBACK, free_port()));
    register(&proxy, "bob", "bob-secret", bob);
    register(&proxy, "alice", "alice-secret", alice);

    // bob's phone requires alice's asserted identity and no credentials.
    exchange(
        Sipp::uas("message_uas_asserted").service("bob").local(bob),
        Sipp::uac("message_uac_auth", proxy.udp)
            .service("bob")
            .credentials("alice", "alice-secret")
            .key("domain", DOMAIN)
            .key("from", "alice"),
    );

    let audit = std::fs::read_to_string(proxy.audit_path()).expect("the audit trail");
    let outcomes: Vec<(String, String)> = audit
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (record["aor"].as_str().unwrap_or_default().to_string(), record["authenticated"].to_string())
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("sip:bob@127.0.0.1".to_string(), "\"none\"".to_string()),
            ("sip:bob@127.0.0.1".to_string(), "\"digest\"".to_string()),
            ("sip:alice@127.0.0.1".to_string(), "\"none\"".to_string()),
            ("sip:alice@127.0.0.1".to_string(), "\"digest\"".to_string()),
        ],
        "one record per attempt: challenged, then authenticated"
    );
}
