//! sipwarden as the policy decision point of a real Kamailio 5.6 (Debian's
//! packages) running `examples/kamailio/kamailio.cfg` as shipped, with only
//! its ports substituted. sipwarden runs the bundled policies in decision
//! mode only (no SIP listener of its own); Kamailio asks it over JSON-RPC
//! (janssonrpcc) and applies the verdicts; its registrar and location
//! service do the rest. The clients are sipp and a raw UDP user agent.

mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::audit::read_trail;
use harness::kamailio::Kamailio;
use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, assert_all_succeeded, exchange, register_with_digest};
use harness::ua::{Outgoing, Ua};
use harness::{LOOPBACK, free_port, repo_root, tail, wait_until};

const DOMAIN: &str = "127.0.0.1";

/// Where the UAS of the failure tests runs: a host Kamailio is not.
const UAS_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The example's decision timeout, as shipped.
const TIMEOUT: Duration = Duration::from_millis(500);

/// The number the demo directory of these tests gives to bob.
const BOBS_NUMBER: &str = "tel:+15550100";

/// The example configuration with its JSON-RPC address pointed at
/// `sipwarden` (a `#!substdef`, which `-A` cannot set): the only change.
fn example_cfg(dir: &Path, sipwarden: &Sipwarden) -> PathBuf {
    let shipped = repo_root().join("examples/kamailio/kamailio.cfg");
    let text = std::fs::read_to_string(&shipped).expect("read examples/kamailio/kamailio.cfg");
    let line = "#!substdef \"!SW_RPC_PORT!5090!g\"";
    assert_eq!(text.matches(line).count(), 1, "the example sets the JSON-RPC port with `{line}`");
    let text = text.replace(line, &format!("#!substdef \"!SW_RPC_PORT!{}!g\"", sipwarden.jsonrpc.port()));
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, text).expect("write kamailio.cfg");
    cfg
}

/// Kamailio with the example cfg, connected to `sipwarden`.
fn kamailio(sipwarden: &Sipwarden, fail_open: bool, dir: &Path) -> Kamailio {
    let cfg = example_cfg(dir, sipwarden);
    let defines = [("SW_FAIL_OPEN", u8::from(fail_open).to_string())];
    let kamailio = Kamailio::with_cfg(&cfg, LOOPBACK, ["SW_SIP_ADDR", "SW_SIP_PORT"], &defines);
    wait_for_connections(sipwarden, 1);
    kamailio
}

/// Wait until sipwarden has logged `n` JSON-RPC clients connecting in all.
fn wait_for_connections(sipwarden: &Sipwarden, n: usize) {
    let connected = wait_until(Duration::from_secs(10), || {
        sipwarden.log().matches("decision client connected (jsonrpc)").count() >= n
    });
    assert!(connected, "Kamailio did not connect to sipwarden; sipwarden's log:\n{}", tail(&sipwarden.log(), 30));
}

/// The bundled policies as `sipwarden serve` ships them, deciding only, with
/// what sipp's digest needs (MD5 first, no digest-uri check) and a
/// directory that gives bob a number.
fn decision_config(dir: &Path) -> Config {
    let directory = dir.join("directory.toml");
    std::fs::write(&directory, format!("[numbers]\n\"{}\" = [\"sip:bob@127.0.0.1\"]\n", &BOBS_NUMBER[4..]))
        .expect("write the directory");
    Config { directory: Some(directory), ..Config::bundle() }.sipp_digest().decision_only()
}

fn register(kamailio: &Kamailio, user: &str, password: &str, contact: SocketAddr) {
    register_with_digest(kamailio.addr, DOMAIN, user, password, contact);
}

/// Acceptance 1: digest challenge and registration, the audit trail of both
/// attempts, a MESSAGE to a number retargeted to its user, and a forged
/// P-Asserted-Identity that never reaches the callee.
#[test]
fn kamailio_applies_the_bundled_policies_decided_by_sipwarden() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sipwarden = Sipwarden::start(&decision_config(dir.path()));
    let kamailio = kamailio(&sipwarden, false, dir.path());
    let (alice, bob) = (SocketAddr::new(LOOPBACK, free_port()), SocketAddr::new(LOOPBACK, free_port()));

    // REGISTER without credentials: identity's 401, sent by Kamailio; with
    // them: 200 from Kamailio's registrar (sipp checks both).
    register(&kamailio, "bob", "bob-secret", bob);
    register(&kamailio, "alice", "alice-secret", alice);
    let log = kamailio.log();
    // Kamailio reports the registrar's 200 after sending it: let it land.
    let reported = || read_trail(&sipwarden.audit_path()).is_ok_and(|t| t.len() >= 4);
    wait_until(Duration::from_secs(3), reported);
    let trail = read_trail(&sipwarden.audit_path()).unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<(String, String, u64)> = trail
        .iter()
        .map(|r| {
            let text = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            (text("aor"), text("authenticated"), r.get("status").and_then(|v| v.as_u64()).unwrap_or_default())
        })
        .collect();
    let attempt =
        |user: &str, authenticated: &str, status| (format!("sip:{user}@{DOMAIN}"), authenticated.into(), status);
    assert_eq!(
        outcomes,
        [
            attempt("bob", "none", 401),
            attempt("bob", "digest", 200),
            attempt("alice", "none", 401),
            attempt("alice", "digest", 200)
        ],
        "the audit trail {}; Kamailio's log:\n{}",
        sipwarden.audit_path().display(),
        tail(&log, 30)
    );

    // alice writes to bob's number: challenged (407), then looked up and
    // retargeted by lookup-guard, found in Kamailio's location service.
    exchange(
        Sipp::uas("message_uas").service("bob").local(bob),
        Sipp::uac("message_uac_auth_tel", kamailio.addr)
            .credentials("alice", "alice-secret")
            .key("domain", DOMAIN)
            .key("from", "alice")
            .key("number", BOBS_NUMBER),
    );

    // alice forges an assertion: identity removes it, and asserts her.
    exchange(
        Sipp::uas("message_uas_unforged").service("bob").local(bob),
        Sipp::uac("message_uac_auth_spoofed", kamailio.addr)
            .service("bob")
            .credentials("alice", "alice-secret")
            .key("domain", DOMAIN)
            .key("from", "alice"),
    );
}

/// Acceptance 1: secure-transport, told not to trust loopback, refuses a
/// REGISTER over UDP; Kamailio sends its status and Warning.
#[test]
fn kamailio_sends_the_refusal_of_secure_transport() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config =
        decision_config(dir.path()).manifest_line("secure-transport", "trusted-peers = ", "trusted-peers = []");
    let sipwarden = Sipwarden::start(&config);
    let kamailio = kamailio(&sipwarden, false, dir.path());
    let outcome = Sipp::uac("register_refused", kamailio.addr).service("alice").key("domain", DOMAIN).run();
    assert_all_succeeded(&[&outcome]);
}

/// A MESSAGE to a UAS on another host (127.0.0.2), which Kamailio relays to
/// without a location look-up, from a client without credentials: decided
/// by identity, it is challenged.
fn message_to(uas: &Ua) -> Outgoing {
    Outgoing::new("MESSAGE", &format!("sip:bob@{}", uas.local), &format!("<sip:alice@{DOMAIN}>"))
        .body("text/plain", "hello")
}

fn assert_challenged(client: &Ua, uas: &Ua, what: &str) {
    let response = client.exchange(&message_to(uas));
    assert_eq!(response.start, "SIP/2.0 407 Proxy Authentication Required", "{what}");
}

/// Fail-closed: 503 within the decision timeout.
fn assert_refused_in_time(client: &Ua, uas: &Ua, what: &str) {
    let started = Instant::now();
    let response = client.exchange(&message_to(uas));
    let took = started.elapsed();
    assert_eq!(response.start, "SIP/2.0 503 Policy Unavailable", "{what}");
    assert!(took < TIMEOUT + Duration::from_millis(300), "{what}: answered after {took:?}");
}

/// Fail-open: forwarded unchecked to the UAS, which answers 200.
fn assert_forwarded(client: &Ua, uas: &Ua, what: &str) {
    std::thread::scope(|scope| {
        let at_uas = scope.spawn(|| {
            let (request, from) =
                uas.next_request(Duration::from_secs(3)).unwrap_or_else(|| panic!("{what}: nothing forwarded"));
            uas.respond(&request, from, 200, "OK");
            request
        });
        let response = client.exchange(&message_to(uas));
        assert_eq!(response.start, "SIP/2.0 200 OK", "{what}");
        let request = at_uas.join().expect("the UAS");
        assert!(request.header("Proxy-Authorization").is_none());
    });
}

/// Acceptance 2: sipwarden stopped mid-run. A sipwarden that stops answering
/// (SIGSTOP) costs the timeout; one that is gone is noticed at once. Closed:
/// 503; open: forwarded. Started again, it is used again without restarting
/// Kamailio.
#[test]
fn kamailio_applies_its_failure_policy_while_sipwarden_is_down_and_resumes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut sipwarden = Sipwarden::start(&decision_config(dir.path()));
    let closed_dir = tempfile::tempdir().expect("a temporary directory");
    let open_dir = tempfile::tempdir().expect("a temporary directory");
    let closed = kamailio(&sipwarden, false, closed_dir.path());
    let open = Kamailio::with_cfg(
        &example_cfg(open_dir.path(), &sipwarden),
        LOOPBACK,
        ["SW_SIP_ADDR", "SW_SIP_PORT"],
        &[("SW_FAIL_OPEN", "1".to_string())],
    );
    wait_for_connections(&sipwarden, 2);
    let uas = Ua::bind(UAS_HOST, closed.addr);
    let (via_closed, via_open) = (Ua::bind(LOOPBACK, closed.addr), Ua::bind(LOOPBACK, open.addr));
    assert_challenged(&via_closed, &uas, "fail-closed Kamailio, sipwarden up");
    assert_challenged(&via_open, &uas, "fail-open Kamailio, sipwarden up");

    // Not answering: the connection stays, the answer never comes.
    let pid = sipwarden.pid() as libc::pid_t;
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    assert_refused_in_time(&via_closed, &uas, "fail-closed, sipwarden stopped (SIGSTOP)");
    assert_forwarded(&via_open, &uas, "fail-open, sipwarden stopped (SIGSTOP)");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };

    // Gone: the connection closes, and Kamailio knows at once.
    sipwarden.stop();
    assert_refused_in_time(&via_closed, &uas, "fail-closed, sipwarden gone");
    assert_forwarded(&via_open, &uas, "fail-open, sipwarden gone");

    // Back: janssonrpcc reconnects by itself (every 3 s).
    sipwarden.start_again();
    wait_for_connections(&sipwarden, 4);
    assert_challenged(&via_closed, &uas, "fail-closed Kamailio, sipwarden back");
    assert_challenged(&via_open, &uas, "fail-open Kamailio, sipwarden back");
}
