//! The README as a new user follows it: `sipwarden serve` on its embedded
//! default, then the walk-through's commands, taken from the document and
//! run as written (each with `bash -c`, from the repository root). A command
//! that the product no longer accepts fails this test, so the document
//! cannot drift from the product again.
//!
//! The embedded default listens on fixed, documented ports (SIP 5060 and
//! 5061, WebSocket 5066 and 7443, the admin API 9090) and the
//! walk-through's sipp instances on 5070–5073: the test says so and stops
//! if one is taken.

mod harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::process::Guard;
use harness::{Transport, is_bound, repo_root, require_tool, wait_until};

/// The shell commands of the section under `heading`: its ```sh blocks,
/// comments dropped, backslash continuations joined.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(heading).unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let section = &readme[start + heading.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_block = true,
            "```" => in_block = false,
            line if in_block && !line.is_empty() && !line.starts_with('#') => {
                let (text, continued) = match line.strip_suffix('\\') {
                    Some(text) => (text.trim_end(), true),
                    None => (line, false),
                };
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(text);
                if !continued {
                    commands.push(std::mem::take(&mut current));
                }
            }
            _ => {}
        }
    }
    assert!(current.is_empty(), "a command in {heading:?} ends with a continuation");
    commands
}

/// The audit trail the embedded default writes in the repository root,
/// removed when the test ends, whether it passed or not.
struct Removed(std::path::PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn shell(command: &str) -> Command {
    let mut shell = Command::new("bash");
    shell.arg("-c").arg(command).current_dir(repo_root()).stdin(Stdio::null());
    shell
}

#[test]
fn the_walk_through_runs_as_written() {
    require_tool("sipp");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md");

    // The main job. The README builds and runs it with cargo; the test runs
    // the binary that command runs (a cargo inside `cargo test` would wait
    // for the build directory's lock).
    let serve = commands(&readme, "## On a fresh machine");
    assert_eq!(serve.first().map(String::as_str), Some("plugins/build && cargo run -p sipwarden -- serve"));
    let ports = [
        (Transport::Udp, 5060),
        (Transport::Tcp, 5060),
        (Transport::Tcp, 5061),
        (Transport::Tcp, 5066),
        (Transport::Tcp, 7443),
        (Transport::Tcp, 9090),
        (Transport::Udp, 5070),
        (Transport::Udp, 5071),
        (Transport::Udp, 5072),
        (Transport::Udp, 5073),
    ];
    for (transport, port) in ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(!is_bound(transport, addr), "{} {addr} is taken: the README's walk-through needs it", transport.name());
    }
    let audit = Removed(repo_root().join("sipwarden-audit.jsonl"));
    let _ = std::fs::remove_file(&audit.0);
    let mut binary = Command::new(repo_root().join("target/debug/sipwarden"));
    binary.arg("serve").current_dir(repo_root()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let _proxy = Guard::spawn("sipwarden serve", binary);
    let admin = SocketAddr::from(([127, 0, 0, 1], 9090));
    assert!(
        wait_until(Duration::from_secs(20), || is_bound(Transport::Tcp, admin)),
        "sipwarden serve did not open its admin API on {admin}"
    );
    let healthz = Command::new("curl").args(["-sf", "http://127.0.0.1:9090/healthz"]).output().expect("curl runs");
    assert!(healthz.status.success(), "GET /healthz on the embedded default");

    // The walk-through: every command as written; one that ends in `&`
    // runs beside the others and must exit 0 too.
    let steps = commands(&readme, "## A two-user MESSAGE with sipp, on the embedded default");
    assert!(steps.len() >= 4, "the walk-through has its commands: {steps:?}");
    let mut beside = Vec::new();
    for step in &steps {
        if let Some(background) = step.strip_suffix('&') {
            let mut command = shell(&format!("exec {}", background.trim_end()));
            command.stdout(Stdio::null()).stderr(Stdio::null());
            beside.push((step, Guard::spawn(step, command)));
            let first_port = background.split(" -p ").nth(1).and_then(|p| p.split(' ').next()?.parse().ok());
            if let Some(port) = first_port {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                assert!(wait_until(Duration::from_secs(5), || is_bound(Transport::Udp, addr)), "{step}: not listening");
            }
            continue;
        }
        let out = shell(step).output().expect("bash runs");
        assert!(
            out.status.success(),
            "README command failed ({}):\n{step}\n{}",
            out.status,
            harness::tail(&String::from_utf8_lossy(&out.stdout), 20)
        );
    }
    for (step, mut guard) in beside {
        let status = guard.wait_for_exit(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "README command beside the others failed ({status:?}):\n{step}");
    }

    // What the README says comes of it: the registrations in the audit trail.
    let records = std::fs::read_to_string(&audit.0).unwrap_or_default();
    assert!(records.lines().count() >= 2, "the audit trail holds the registrations: {records}");

    // The browser demo, against the same running default.
    let screenshot = Removed(repo_root().join("browsers.png"));
    for step in commands(&readme, "## Two browsers, on the embedded default") {
        let out = shell(&step).output().expect("bash runs");
        assert!(
            out.status.success(),
            "README command failed ({}):\n{step}\n{}{}",
            out.status,
            harness::tail(&String::from_utf8_lossy(&out.stdout), 20),
            harness::tail(&String::from_utf8_lossy(&out.stderr), 20)
        );
    }
    assert!(screenshot.0.is_file(), "the browser demo saves browsers.png");
}
