//! A capability that cannot be reached: lookup-guard (SEC-2) on a host with
//! no `[directory]`. Every look-up fails, the plugin says it cannot decide,
//! and its manifest's failure policy answers (closed: `503 Directory
//! Unavailable`) at once; the proxy logs which plugin declined and why, and
//! goes on serving: further look-ups get the same answer, and requests that
//! need no look-up are routed as usual.
//!
//! The proxy runs the bundled lookup-guard alone, with its manifest as
//! shipped, and the embedded registrar: identity is left out so that the
//! requests reach lookup-guard without credentials.

mod harness;

use std::time::{Duration, Instant};

use harness::proxy::{Config, Sipwarden};
use harness::ua::{Outgoing, Ua};
use harness::{LOOPBACK, tail, wait_until};

/// The failure policy must answer well within the plugin's deadline
/// (lookup-guard.toml: `deadline-ms = 1000`): nothing waits for a directory
/// that is not there.
const PROMPTLY: Duration = Duration::from_secs(1);

#[test]
fn lookup_without_a_directory_gets_the_failure_policy_promptly() {
    let proxy = Sipwarden::start(&Config::registrar().bundled_plugin("lookup-guard"));
    let bob = Ua::bind(LOOPBACK, proxy.udp);
    let register = Outgoing::new("REGISTER", "sip:127.0.0.1", "<sip:bob@127.0.0.1>")
        .header("To: <sip:bob@127.0.0.1>")
        .header(&format!("Contact: {}", bob.contact("bob")))
        .header("Expires: 300");
    assert_eq!(bob.exchange(&register).start, "SIP/2.0 200 OK", "bob's REGISTER");

    let alice = Ua::bind(LOOPBACK, proxy.udp);
    let to_number = Outgoing::new("MESSAGE", "tel:+1-555-765-4321", "<sip:alice@127.0.0.1>").body("text/plain", "hi");
    let started = Instant::now();
    let response = alice.exchange(&to_number);
    let took = started.elapsed();
    assert_eq!(response.start, "SIP/2.0 503 Directory Unavailable", "MESSAGE to a number without a directory");
    assert!(took < PROMPTLY, "the failure policy answered after {took:?}");

    let logged = |log: &str| {
        log.lines().any(|line| {
            line.contains("WARN")
                && line.contains("plugin failed: could not decide: directory unavailable: no directory is configured")
                && line.contains("plugin=lookup-guard")
                && line.contains("kind=\"declined\"")
        })
    };
    assert!(
        wait_until(Duration::from_secs(2), || logged(&proxy.log())),
        "the log does not say lookup-guard declined; its last lines:\n{}",
        tail(&proxy.log(), 20)
    );

    // Nothing hangs: concurrent look-ups (contacts and sessions) all get
    // the failure policy promptly.
    let target = proxy.udp;
    std::thread::scope(|scope| {
        let requests: Vec<_> = (0..10)
            .map(|n| {
                scope.spawn(move || {
                    let ua = Ua::bind(LOOPBACK, target);
                    let request = if n % 2 == 0 {
                        Outgoing::new("SUBSCRIBE", &format!("tel:+1555000{n:04}"), "<sip:alice@127.0.0.1>")
                            .header("Event: presence")
                            .header(&format!("Contact: {}", ua.contact("alice")))
                    } else {
                        Outgoing::new(
                            "INVITE",
                            &format!("sip:+1555000{n:04}@127.0.0.1;user=phone"),
                            "<sip:alice@127.0.0.1>",
                        )
                        .header(&format!("Contact: {}", ua.contact("alice")))
                    };
                    let started = Instant::now();
                    let response = ua.exchange(&request);
                    (request.method, response.start, started.elapsed())
                })
            })
            .collect();
        for request in requests {
            let (method, start, took) = request.join().expect("a concurrent look-up");
            assert_eq!(start, "SIP/2.0 503 Directory Unavailable", "{method} to a number");
            assert!(took < PROMPTLY, "{method} to a number answered after {took:?}");
        }
    });

    // A request that needs no look-up still reaches bob.
    let direct = Outgoing::new("MESSAGE", "sip:bob@127.0.0.1", "<sip:alice@127.0.0.1>").body("text/plain", "direct");
    let text = direct.render(alice.local);
    std::thread::scope(|scope| {
        let at_bob = scope.spawn(|| {
            let (request, from) = bob.next_request(Duration::from_secs(5)).expect("the MESSAGE forwarded to bob");
            bob.respond(&request, from, 200, "OK");
            request
        });
        let response = alice.exchange_text(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.start, "SIP/2.0 200 OK", "MESSAGE to bob's SIP address");
        let request = at_bob.join().expect("bob's UAS");
        assert_eq!(request.body, b"direct");
    });
}
