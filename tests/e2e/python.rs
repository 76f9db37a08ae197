//! Policies in Python decide as their Rust twins in a running proxy: the
//! same sipp client sends the same requests through a `sipwarden serve`
//! running block-scanners and secure-transport in Rust, then through one
//! running their Python twins (examples/plugins/*-py), and each request gets
//! the same answer, header for header, from both.

mod harness;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, SippOutcome};
use harness::{LOOPBACK, free_port, repo_root};

/// block-scanners as the tests configure both twins.
const SCANNERS: &str = "user-agents = [\"friendly-scanner\", \"sipvicious\", \"sipcli\"]\n\
                        from-users = [\"100\", \"1000\"]\nstatus = 403\nreason = \"Forbidden\"\nmark = \"X-Screened-By\"";
/// secure-transport with no trusted peer: loopback, where sipp is, must use
/// TLS like anyone.
const TRANSPORT: &str = "trusted-peers = []\ntls-uri = \"sips:127.0.0.1:5061\"";

/// A shipped manifest with its `[config]` table replaced by `config`.
fn manifest(shipped: &str, config: &str) -> String {
    let path = repo_root().join(shipped);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut kept = String::new();
    let mut in_config = false;
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            in_config = line.trim_start().starts_with("[config]");
        }
        if !in_config {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    format!("{kept}\n[config]\n{config}\n")
}

/// The proxy with one language's pair of policies, relaying to `uas`.
fn proxy(python: bool, uas: SocketAddr) -> Sipwarden {
    let (scanners, transport) = if python {
        (
            ("block-scanners-py", manifest("examples/plugins/block-scanners-py/block-scanners-py.toml", SCANNERS)),
            (
                "secure-transport-py",
                manifest("examples/plugins/secure-transport-py/secure-transport-py.toml", TRANSPORT),
            ),
        )
    } else {
        (
            ("block-scanners", manifest("examples/plugins/block-scanners/block-scanners.toml", SCANNERS)),
            ("secure-transport", manifest("plugins/bundle/secure-transport.toml", TRANSPORT)),
        )
    };
    // Both chains run block-scanners first: equal `order`, then by name.
    let config = Config::upstream(&format!("sip:{uas}"))
        .plugin_named(scanners.0, &scanners.0.replace('-', "_"), scanners.1)
        .plugin_named(transport.0, &transport.0.replace('-', "_"), transport.1);
    Sipwarden::start(&config)
}

/// Each call's answer as the client saw it: the status line, and the
/// Warning and X-Screened-By headers (what the policies add), by call
/// number. A retransmitted answer is the first one again.
fn answers(outcome: &SippOutcome) -> BTreeMap<u32, String> {
    let mut answers = BTreeMap::new();
    for block in outcome.messages.split("-----------------------------------------------") {
        if !block.contains("message received") {
            continue;
        }
        let lines: Vec<&str> = block.lines().map(str::trim_end).collect();
        let Some(status) = lines.iter().find(|l| l.starts_with("SIP/2.0 ")) else { continue };
        // sipp's Call-IDs are CALL_NUMBER-PID@IP.
        let call = lines
            .iter()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse().ok());
        let Some(call) = call else { continue };
        let header = |name: &str| lines.iter().find(|l| l.starts_with(name)).copied().unwrap_or("-");
        answers
            .entry(call)
            .or_insert_with(|| format!("{status} | {} | {}", header("Warning:"), header("X-Screened-By:")));
    }
    answers
}

/// One request: (label, Request-URI, User-Agent, From user, To URI), and
/// the status it must get, so that two chains agreeing on something wrong
/// still fail.
type Case = ([String; 5], &'static str);

/// The requests of each method (sipp needs a scenario per method): the
/// MESSAGEs, enforced by secure-transport, and the OPTIONS, which are not.
fn cases(uas: SocketAddr) -> [(&'static str, Vec<Case>); 2] {
    let bob = format!("sip:bob@{uas}");
    let sips_bob = format!("sips:bob@{uas}");
    let row =
        |label: &str, uri: &str, agent: &str, from: &str, to: &str| [label, uri, agent, from, to].map(String::from);
    let messages = vec![
        (row("scanner", &bob, "friendly-scanner", "alice", &bob), "SIP/2.0 403 Forbidden"),
        (row("scanner, capitals", &bob, "FRIENDLY-SCANNER/2", "alice", &bob), "SIP/2.0 403 Forbidden"),
        (row("phone over UDP", &bob, "Phone/1.0", "alice", &bob), "SIP/2.0 403 TLS Required"),
        (row("From user 100", &bob, "Phone/1.0", "100", &bob), "SIP/2.0 403 Forbidden"),
        (row("sips: To", &bob, "Phone/1.0", "alice", &sips_bob), "SIP/2.0 403 SIPS Requires TLS"),
    ];
    let options = vec![
        (row("sipvicious", &bob, "sipvicious 0.3", "alice", &bob), "SIP/2.0 403 Forbidden"),
        (row("sipcli", &bob, "SIPcli/1.8", "alice", &bob), "SIP/2.0 403 Forbidden"),
        (row("From user 1000", &bob, "Phone/1.0", "1000", &bob), "SIP/2.0 403 Forbidden"),
        (row("phone", &bob, "Phone/1.0", "alice", &bob), "SIP/2.0 200 OK"),
        (row("From user 1001", &bob, "Phone/1.0", "1001", &bob), "SIP/2.0 200 OK"),
        (row("sips: Request-URI", &sips_bob, "Phone/1.0", "alice", &bob), "SIP/2.0 403 SIPS Requires TLS"),
        (row("sips: To", &bob, "Phone/1.0", "alice", &sips_bob), "SIP/2.0 403 SIPS Requires TLS"),
        (row("not a listed scanner", &bob, "sip-scan", "alice", &bob), "SIP/2.0 200 OK"),
    ];
    [("message_twins", messages), ("options_twins", options)]
}

/// Run every case through one proxy with sipp; the answers by (scenario,
/// call number).
fn run(python: bool) -> BTreeMap<(&'static str, u32), String> {
    let uas = SocketAddr::new(LOOPBACK, free_port());
    let cases = cases(uas);
    let forwarded = cases.iter().flat_map(|(_, c)| c).filter(|(_, status)| status.starts_with("SIP/2.0 200")).count();
    let proxy = proxy(python, uas);
    let bob = Sipp::uas("any_uas").service("bob").local(uas).calls(forwarded as u32, 10).start();
    let language = if python { "Python" } else { "Rust" };
    let mut all = BTreeMap::new();
    for (scenario, cases) in &cases {
        let rows: Vec<Vec<&str>> = cases.iter().map(|(row, _)| row.iter().map(String::as_str).collect()).collect();
        let alice = Sipp::uac(scenario, proxy.udp).rows(&rows).calls(rows.len() as u32, 20).run();
        assert!(
            alice.succeeded(),
            "{language}: {} ({})\n{}\n{}",
            alice.name,
            alice.meaning(),
            alice.errors,
            proxy.log()
        );
        let answers = answers(&alice);
        assert_eq!(answers.len(), cases.len(), "{language}, {scenario}: one answer per request: {answers:#?}");
        for (n, (row, expected)) in cases.iter().enumerate() {
            let answer = &answers[&(n as u32 + 1)];
            assert!(answer.starts_with(expected), "{language}, {scenario} {}: {answer}", row[0]);
            all.insert((*scenario, n as u32 + 1), answer.clone());
        }
    }
    let bob = bob.wait();
    assert!(bob.succeeded(), "{language}: the UAS: {} ({})\n{}", bob.name, bob.meaning(), bob.errors);
    all
}

#[test]
fn python_twins_answer_as_their_rust_twins_through_a_running_proxy() {
    let rust = run(false);
    let python = run(true);
    for (case, answer) in &rust {
        assert_eq!(&python[case], answer, "{case:?}: Python answered otherwise");
    }
    // The mark reached the UAS through both (its answer echoes it), and the
    // Warning names where TLS is served.
    let passed = &python[&("options_twins", 4)];
    assert!(passed.ends_with("X-Screened-By: block-scanners"), "{passed}");
    let refused = &python[&("message_twins", 3)];
    assert!(refused.contains("Warning: 399 127.0.0.1 \"Use TLS: send to sips:127.0.0.1:5061\""), "{refused}");
}
