//! Browsers as SIP clients, for real (REG-4, RFC 7118): JsSIP in Debian's
//! headless Chromium, driven by Playwright (tests/browser/run.mjs), against
//! `sipwarden serve` with the bundled policies over secure WebSocket. Two
//! browser users register with digest and exchange MESSAGEs; then a browser
//! user and a sipp UDP user exchange MESSAGEs both ways. The screenshots of
//! the pages are kept in `target/e2e-artifacts/`.
//!
//! Needs `tests/browser/install` (Chromium, the locked node packages):
//! `tests/run` runs it.

mod harness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use harness::proxy::{Config, Sipwarden};
use harness::sipp::{Sipp, assert_all_succeeded};
use harness::tls_client::TestPki;
use harness::{LOOPBACK, free_port, repo_root, require_tool, wait_until};
use serde_json::Value;

/// Where the screenshots stay after the test, for whoever reads its output.
fn artifacts() -> PathBuf {
    let dir = repo_root().join("target/e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/e2e-artifacts");
    dir
}

/// The bundled policies as shipped (secure-transport lets only TLS and WSS
/// through from outside loopback; identity challenges every REGISTER and
/// MESSAGE), the test CA's certificate on wss.
fn proxy(pki: &TestPki) -> Sipwarden {
    let config = Config::bundle().md5_only().tls_identity(pki.certificate_pem.clone(), pki.key_pem.clone());
    Sipwarden::start(&config)
}

/// `node tests/browser/run.mjs` with these arguments; its JSON report.
fn browsers(proxy: &Sipwarden, ca: &std::path::Path, args: &[&str]) -> (Output, Value) {
    require_tool("node");
    let driver = repo_root().join("tests/browser/run.mjs");
    assert!(
        repo_root().join("tests/browser/node_modules/jssip").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and its node packages: run tests/browser/install"
    );
    let out = Command::new("node")
        .arg(driver)
        .args(["--ws-url", &format!("wss://127.0.0.1:{}", proxy.wss.port()), "--domain", "127.0.0.1"])
        .arg("--ca-cert")
        .arg(ca)
        .args(["--timeout", "8000", "--deadline", "60000"])
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout.lines().rev().find_map(|line| serde_json::from_str(line).ok()).unwrap_or(Value::Null);
    (out, report)
}

fn explain(out: &Output, report: &Value, proxy: &Sipwarden) -> String {
    format!(
        "exit {:?}: {}\nstderr:\n{}\nsipwarden:\n{}",
        out.status.code(),
        report["error"],
        harness::tail(&String::from_utf8_lossy(&out.stderr), 30),
        harness::tail(&proxy.log(), 40)
    )
}

#[test]
fn two_browsers_register_over_wss_and_exchange_messages() {
    let pki = TestPki::new();
    let proxy = proxy(&pki);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = dir.path().join("ca.der");
    std::fs::write(&ca, pki.ca.as_ref()).expect("write the CA");
    let screenshot = artifacts().join("browser-pair.png");
    let (out, report) = browsers(
        &proxy,
        &ca,
        &["--users", "alice:alice-secret,bob:bob-secret", "--screenshot", screenshot.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", explain(&out, &report, &proxy));
    for registration in report["registrations"].as_array().expect("registrations") {
        assert_eq!(registration["status"], 200, "{registration}");
    }
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "alice to bob and back: {report}");
    assert!(messages.iter().all(|m| m["status"] == 200 && m["delivered"] == true), "{report}");
    assert!(screenshot.is_file(), "the screenshot is kept: {}", screenshot.display());
    println!("screenshot: {}", screenshot.display());
}

#[test]
fn a_browser_and_a_sipp_udp_user_exchange_messages_both_ways() {
    require_tool("sipp");
    let pki = TestPki::new();
    let proxy = proxy(&pki);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = dir.path().join("ca.der");
    std::fs::write(&ca, pki.ca.as_ref()).expect("write the CA");

    // bob is a phone: a sipp UAS over UDP, registered with digest.
    let bob = SocketAddr::new(LOOPBACK, free_port());
    let bob_phone = Sipp::uas("message_uas").service("bob").local(bob).start();
    let registered = Sipp::uac("register_auth", proxy.udp)
        .service("bob")
        .credentials("bob", "bob-secret")
        .key("domain", "127.0.0.1")
        .key("contact_port", bob.port())
        .key("contact_transport", "udp")
        .key("expires", 300)
        .run();
    assert_all_succeeded(&[&registered]);

    // alice is in the browser: she sends bob a MESSAGE and waits for his.
    let ready = dir.path().join("ready");
    let screenshot = artifacts().join("browser-and-sipp.png");
    let (ready_arg, shot_arg) = (ready.to_str().unwrap().to_string(), screenshot.to_str().unwrap().to_string());
    let browser = std::thread::scope(|scope| {
        let browser = scope.spawn(|| {
            browsers(
                &proxy,
                &ca,
                &[
                    "--users",
                    "alice:alice-secret",
                    "--peer",
                    "sip:bob@127.0.0.1",
                    "--ready-file",
                    &ready_arg,
                    "--screenshot",
                    &shot_arg,
                ],
            )
        });
        assert!(wait_until(Duration::from_secs(30), || ready.exists()), "the browser did not register in time");
        let bob_sends = Sipp::uac("message_uac_auth", proxy.udp)
            .service("alice")
            .credentials("bob", "bob-secret")
            .key("from", "bob")
            .key("domain", "127.0.0.1")
            .run();
        assert_all_succeeded(&[&bob_sends]);
        browser.join().expect("the browser driver")
    });
    let (out, report) = browser;
    assert!(out.status.success(), "{}", explain(&out, &report, &proxy));
    let bob_phone = bob_phone.wait();
    assert_all_succeeded(&[&bob_phone]);
    let messages = report["messages"].as_array().expect("messages");
    assert!(messages.iter().any(|m| m["to"] == "sip:bob@127.0.0.1" && m["status"] == 200), "{report}");
    assert!(messages.iter().any(|m| m["from"] == "sip:bob@127.0.0.1" && m["delivered"] == true), "{report}");
    println!("screenshot: {}", screenshot.display());
}
