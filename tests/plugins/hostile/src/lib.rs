//! A hostile policy, built by the test suite to prove that sipwarden contains
//! what a plugin does wrong.
//!
//! It behaves (lets the request through) unless the request carries
//! `X-Hostile`, so one test can show a misbehaving call followed by a
//! correctly served request on the same plugin. What it does when triggered
//! is chosen by `mode` in its configuration.

use serde::Deserialize;
use sipwarden_sdk::{Header, Policy, Request, Verdict, audit, export_policy, log};

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Spin forever: only the host's deadline stops it.
    Loop,
    /// Allocate without bound: only the host's memory cap stops it.
    Grow,
    /// Panic, which traps.
    Panic,
    /// Answer with a verdict far larger than any SIP response.
    Oversized,
    /// Try to smuggle a second header through a CR LF in a value.
    Inject,
    /// Try to read a file of the host.
    File,
    /// Try to open a network connection.
    Socket,
    /// Use the audit capability (load it without granting it to test refusal).
    Audit,
    /// Append 1 MiB audit records, a hundred times, whatever the answers:
    /// the adversary that once wrote 56 MB in one decision. Answers 403
    /// with how many were accepted.
    AuditFlood,
    /// Append a hundred small records, whatever the answers; 403 with how
    /// many were accepted.
    AuditMany,
    /// Write ten thousand log lines of 4 KiB.
    LogFlood,
    /// Refuse every configuration.
    RefuseConfig,
    /// Say it cannot decide, as a policy whose capability is down does.
    Decline,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
}

struct Hostile {
    mode: Mode,
    /// Grows across calls in `grow` mode, so memory is never given back.
    hoard: std::cell::RefCell<Vec<Vec<u8>>>,
}

impl Policy for Hostile {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.mode == Mode::RefuseConfig {
            return Err("this configuration is refused on purpose".to_string());
        }
        Ok(Hostile { mode: config.mode, hoard: Default::default() })
    }

    fn decide(&self, req: &Request) -> Verdict {
        if req.header("X-Hostile").is_none() {
            return Verdict::pass();
        }
        match self.mode {
            Mode::Loop => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Mode::Grow => loop {
                let mut block = vec![0u8; 1 << 20];
                block[0] = 1;
                self.hoard.borrow_mut().push(block);
            },
            Mode::Panic => panic!("hostile plugin panics on purpose"),
            Mode::Oversized => {
                let headers = (0..5_000).map(|i| Header::new("X-Flood", format!("{i:0>64}"))).collect();
                Verdict::respond(403, "x".repeat(256 << 10), headers)
            }
            Mode::Inject => Verdict::respond(
                403,
                "Forbidden",
                vec![Header::new("Warning", "399 x \"y\"\r\nVia: SIP/2.0/UDP evil.example")],
            ),
            Mode::File => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => Verdict::reject(200, format!("leaked {} bytes", text.len())),
                Err(e) => Verdict::reject(403, format!("file refused: {e}")),
            },
            Mode::Socket => match std::net::TcpStream::connect("127.0.0.1:22") {
                Ok(_) => Verdict::reject(200, "connected"),
                Err(e) => Verdict::reject(403, format!("socket refused: {e}")),
            },
            Mode::Audit => match audit::append(&[audit::text("event", "hostile")]) {
                Ok(()) => Verdict::pass(),
                Err(e) => Verdict::reject(500, e),
            },
            Mode::AuditFlood | Mode::AuditMany => {
                let text = if self.mode == Mode::AuditFlood { "x".repeat(1 << 20) } else { "x".to_string() };
                let accepted = (0..100).filter(|_| audit::append(&[audit::text("flood", &text)]).is_ok()).count();
                Verdict::reject(403, format!("{accepted} accepted"))
            }
            Mode::LogFlood => {
                let line = "y".repeat(4 << 10);
                for _ in 0..10_000 {
                    log::warn(&line);
                }
                Verdict::pass()
            }
            Mode::RefuseConfig => Verdict::pass(),
            Mode::Decline => Verdict::fail("directory unavailable"),
        }
    }
}

export_policy!(Hostile);
