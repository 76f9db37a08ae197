//! Policies in Python (componentize-py, `plugins/sdk-python`) against the
//! same contract as Rust: each Python example decides as its Rust twin on
//! the same messages, through `sipwarden eval` as an author runs it, and a
//! hostile Python plugin is contained like a hostile Rust one.
//!
//! The components are built by `plugins/build` (which runs
//! `plugins/build-python`) into `target/wasm32-wasip2/plugin/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sipwarden::capability::Capabilities;
use sipwarden::policy::{Chain, Decision, Engine, EngineOptions, Manifest, StepResult};
use sipwarden::transport::{Origin, Transport};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// A manifest as shipped, with its `[config]` table replaced by `config`
/// (when given): both twins then run with the same configuration, whatever
/// else (limits) each needs.
fn manifest_with_config(shipped: &Path, config: Option<&str>) -> String {
    let text = std::fs::read_to_string(shipped).unwrap_or_else(|e| panic!("{}: {e}", shipped.display()));
    let Some(config) = config else { return text };
    let mut out = String::new();
    let mut in_config = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_config = trimmed.starts_with("[config]");
        }
        if !in_config {
            out.push_str(line);
            out.push('\n');
        }
    }
    format!("{out}\n[config]\n{config}\n")
}

/// A plugin put where `eval --plugin` finds its manifest: `DIR/NAME.wasm`
/// beside `DIR/NAME.toml`.
fn staged(dir: &Path, name: &str, crate_name: &str, manifest: &str) -> PathBuf {
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::copy(common::wasm(crate_name), &wasm).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
    wasm
}

/// `sipwarden eval` of one message; the report with what may differ between
/// two plugins that decide alike taken out: the plugin's name, and the tag
/// the proxy makes up for its own responses.
fn eval(plugin: &Path, message: &[u8], transport: &str, source: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipwarden"))
        .args(["eval", "--plugin", plugin.to_str().unwrap(), "--transport", transport, "--source", source, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {stdout}{}", plugin.display(), String::from_utf8_lossy(&out.stderr));
    let mut report: Value = serde_json::from_str(&stdout).unwrap();
    report["decision"].as_object_mut().unwrap().remove("by");
    for step in report["steps"].as_array_mut().unwrap() {
        step.as_object_mut().unwrap().remove("plugin");
    }
    report.as_object_mut().unwrap().remove("response");
    report
}

/// A MESSAGE (or another method) with the given header lines.
fn request(method: &str, uri: &str, headers: &str) -> Vec<u8> {
    let body = "Hello";
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-py-1\r\nMax-Forwards: 70\r\n\
         Call-ID: twin@192.0.2.10\r\nCSeq: 1 {method}\r\n{headers}Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What each case expects, so that a twin pair that agreed on something
/// wrong (or on nothing: both failing) still fails the test.
fn outcome(report: &Value) -> String {
    match report["decision"]["decision"].as_str() {
        Some("forward") => {
            let edits = report["steps"][0]["edits"].as_array().map(Vec::len).unwrap_or(0);
            format!("forward+{edits}")
        }
        Some("respond") => {
            let reply = &report["decision"]["reply"];
            format!("{} {}", reply["status"], reply["reason"].as_str().unwrap_or_default())
        }
        other => panic!("no decision: {other:?} in {report}"),
    }
}

fn assert_twins_agree(rust: &Path, python: &Path, cases: &[(&str, Vec<u8>, &str, &str, &str)]) {
    assert!(cases.len() >= 10, "at least ten messages");
    for (case, message, transport, source, expected) in cases {
        let from_rust = eval(rust, message, transport, source);
        let from_python = eval(python, message, transport, source);
        assert_eq!(from_python, from_rust, "{case}: the Python twin decides otherwise");
        assert_eq!(outcome(&from_rust), *expected, "{case}: {from_rust}");
    }
}

#[test]
fn python_block_scanners_decides_as_its_rust_twin() {
    let dir = tempfile::tempdir().unwrap();
    let config = "user-agents = [\"friendly-scanner\", \"sipvicious\", \"SIPcli\"]\nfrom-users = [\"100\", \"1000\"]\n\
                  status = 403\nreason = \"Scanner\"\nmark = \"X-Screened-By\"";
    let rust_manifest =
        manifest_with_config(&repo("examples/plugins/block-scanners/block-scanners.toml"), Some(config));
    let python_manifest =
        manifest_with_config(&repo("examples/plugins/block-scanners-py/block-scanners-py.toml"), Some(config));
    let rust = staged(dir.path(), "block-scanners", "block-scanners", &rust_manifest);
    let python = staged(dir.path(), "block-scanners-py", "block-scanners-py", &python_manifest);

    let to = "To: <sip:bob@example.com>\r\n";
    let msg = |from: &str, ua: Option<&str>| {
        let ua = ua.map(|ua| format!("User-Agent: {ua}\r\n")).unwrap_or_default();
        request("MESSAGE", "sip:bob@example.com", &format!("From: {from};tag=1\r\n{to}{ua}"))
    };
    let alice = "\"Alice\" <sip:alice@example.com>";
    let cases = [
        ("scanner", msg(alice, Some("friendly-scanner")), "udp", "203.0.113.66:5060", "403 Scanner"),
        ("scanner in capitals", msg(alice, Some("FRIENDLY-SCANNER/1.0")), "udp", "203.0.113.66:5060", "403 Scanner"),
        ("scanner inside", msg(alice, Some("x sipvicious 0.3.4")), "tcp", "203.0.113.66:5060", "403 Scanner"),
        ("configured in capitals", msg(alice, Some("sipcli/v1.8")), "udp", "203.0.113.66:5060", "403 Scanner"),
        ("a phone", msg(alice, Some("Phone/1.0")), "tls", "192.0.2.10:5061", "forward+1"),
        ("no User-Agent", msg(alice, None), "udp", "192.0.2.10:5060", "forward+1"),
        ("not in the list", msg(alice, Some("sip-scan")), "udp", "192.0.2.10:5060", "forward+1"),
        ("From user 100", msg("<sip:100@example.com>", Some("Phone")), "udp", "192.0.2.10:5060", "403 Scanner"),
        (
            "From user 1000, display name",
            msg("\"x\" <sip:1000@example.com>", None),
            "udp",
            "192.0.2.10:5060",
            "403 Scanner",
        ),
        ("From sips: 100", msg("<sips:100@example.com>", None), "tls", "192.0.2.10:5061", "403 Scanner"),
        ("From user 1001", msg("<sip:1001@example.com>", None), "udp", "192.0.2.10:5060", "forward+1"),
        ("From addr-spec 100", msg("sip:100@example.com", None), "udp", "192.0.2.10:5060", "403 Scanner"),
        ("From without a user", msg("<sip:example.com>", None), "udp", "192.0.2.10:5060", "forward+1"),
        ("From with a param before @", msg("<sip:100;x=y@example.com>", None), "udp", "192.0.2.10:5060", "forward+1"),
    ];
    assert_twins_agree(&rust, &python, &cases);
}

#[test]
fn python_secure_transport_decides_as_its_rust_twin() {
    let dir = tempfile::tempdir().unwrap();
    let config = "trusted-peers = [\"10.1.0.0/16\", \"2001:db8:c0::/48\", \"192.0.2.7\"]\n\
                  tls-uri = \"sips:proxy.example.com:5061\"";
    let rust_manifest = manifest_with_config(&repo("plugins/bundle/secure-transport.toml"), Some(config));
    let python_manifest =
        manifest_with_config(&repo("examples/plugins/secure-transport-py/secure-transport-py.toml"), Some(config));
    let rust = staged(dir.path(), "secure-transport", "secure-transport", &rust_manifest);
    let python = staged(dir.path(), "secure-transport-py", "secure-transport-py", &python_manifest);

    let headers = |to: &str| format!("From: <sip:alice@example.com>;tag=1\r\nTo: {to}\r\n");
    let plain_to = headers("<sip:bob@example.com>");
    let message = request("MESSAGE", "sip:bob@example.com", &plain_to);
    let tls = "403 TLS Required";
    let sips = "403 SIPS Requires TLS";
    let cases = [
        ("MESSAGE over UDP", message.clone(), "udp", "198.51.100.7:5060", tls),
        ("MESSAGE over TCP", message.clone(), "tcp", "198.51.100.7:5060", tls),
        ("MESSAGE over plain WebSocket", message.clone(), "ws", "198.51.100.7:80", tls),
        ("MESSAGE over TLS", message.clone(), "tls", "198.51.100.7:5061", "forward+0"),
        ("MESSAGE over WSS", message.clone(), "wss", "198.51.100.7:443", "forward+0"),
        ("from a trusted prefix", message.clone(), "udp", "10.1.2.3:5060", "forward+0"),
        ("from a trusted address", message.clone(), "tcp", "192.0.2.7:5060", "forward+0"),
        ("next to the trusted address", message.clone(), "tcp", "192.0.2.8:5060", tls),
        ("from a trusted IPv6 prefix", message.clone(), "udp", "[2001:db8:c0::5]:5060", "forward+0"),
        ("IPv4-mapped trusted", message.clone(), "udp", "[::ffff:10.1.9.9]:5060", "forward+0"),
        (
            "OPTIONS is not enforced",
            request("OPTIONS", "sip:bob@example.com", &plain_to),
            "udp",
            "198.51.100.7:5060",
            "forward+0",
        ),
        (
            "methods are case-sensitive",
            request("message", "sip:bob@example.com", &plain_to),
            "udp",
            "198.51.100.7:5060",
            "forward+0",
        ),
        ("REGISTER", request("REGISTER", "sip:example.com", &plain_to), "udp", "198.51.100.7:5060", tls),
        (
            "sips: Request-URI, trusted",
            request("MESSAGE", "sips:bob@example.com", &plain_to),
            "udp",
            "10.1.2.3:5060",
            sips,
        ),
        (
            "sips: To",
            request("OPTIONS", "sip:bob@example.com", &headers("\"Bob\" <sips:bob@example.com>")),
            "tcp",
            "10.1.2.3:5060",
            sips,
        ),
        (
            "SIPS: To in capitals",
            request("MESSAGE", "sip:bob@example.com", &headers("SIPS:bob@example.com")),
            "udp",
            "10.1.2.3:5060",
            sips,
        ),
        (
            "sips: over TLS",
            request("MESSAGE", "sips:bob@example.com", &plain_to),
            "tls",
            "198.51.100.7:5061",
            "forward+0",
        ),
    ];
    assert_twins_agree(&rust, &python, &cases);
    // The refusal's Warning names where TLS is served, in both.
    let refused = eval(&python, &message, "udp", "198.51.100.7:5060");
    assert_eq!(
        refused["decision"]["reply"]["headers"][0]["value"],
        "399 proxy.example.com \"Use TLS: send to sips:proxy.example.com:5061\"",
        "{refused}"
    );
}

/// The hostile Python plugin in `mode`, with its manifest's limits.
fn hostile_python(engine: &Engine, mode: &str) -> Chain {
    let shipped = repo("tests/plugins/hostile-py/hostile-py.toml");
    let text = manifest_with_config(&shipped, Some(&format!("mode = \"{mode}\"")));
    let manifest = Manifest::parse(&text, &shipped).unwrap();
    let plugin = engine.load_file_with(&common::wasm("hostile-py"), manifest).unwrap();
    Chain::new(vec![Arc::new(plugin)])
}

fn engine() -> Engine {
    let options = EngineOptions { pool_slots: Some(16), ..EngineOptions::default() };
    Engine::new(&options, Capabilities::inert().unwrap()).unwrap()
}

fn origin() -> Origin {
    Origin { transport: Transport::Tls, source: "192.0.2.10:5061".parse().unwrap(), tls_peer: None }
}

/// A triggered request ends in the plugin's failure policy with a failure
/// of `kind`; the next ordinary request on the same chain is served.
fn assert_contained(chain: &Chain, kind: &str) -> String {
    let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), origin());
    assert!(matches!(outcome.decision, Decision::Respond { failure: true, .. }), "{:?}", outcome.decision);
    let error = match &outcome.steps[0].result {
        StepResult::Failed { kind: failed, error, .. } => {
            assert_eq!(*failed, kind, "{error}");
            error.clone()
        }
        other => panic!("expected a {kind} failure, got {other:?}"),
    };
    let next = chain.decide(common::request(""), origin());
    assert_eq!(next.decision, Decision::Forward, "the next request must be served normally");
    error
}

#[test]
fn a_python_infinite_loop_is_stopped_by_the_deadline() {
    let engine = engine();
    let chain = hostile_python(&engine, "loop");
    let started = Instant::now();
    let error = assert_contained(&chain, "deadline");
    assert!(error.starts_with("deadline of "), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_python_list_growing_without_bound_hits_the_memory_cap() {
    let engine = engine();
    let chain = hostile_python(&engine, "grow");
    let error = assert_contained(&chain, "memory");
    assert!(error.starts_with("memory cap of "), "{error}");
}

#[test]
fn an_uncaught_python_exception_is_a_trap_and_the_failure_policy_answers() {
    let engine = engine();
    let chain = hostile_python(&engine, "raise");
    assert_contained(&chain, "trap");
    assert_eq!(chain.plugins()[0].stats().traps, 1);
}

/// Python's `open()` and `socket` are there, but the sandbox gives them
/// nothing to reach: no preopened directory, no network. The plugin answers
/// 500 "escaped" if any attempt worked.
#[test]
fn python_cannot_open_host_files_or_sockets() {
    let engine = engine();
    for mode in ["file", "socket"] {
        let chain = hostile_python(&engine, mode);
        let outcome = chain.decide(common::request("X-Hostile: yes\r\n"), origin());
        match &outcome.decision {
            Decision::Respond { reply, failure: false, .. } => {
                assert_eq!(reply.status, 403, "{mode}: {}", reply.reason);
            }
            other => panic!("{mode}: expected the plugin's own 403 (attempt refused), got {other:?}"),
        }
    }
}
