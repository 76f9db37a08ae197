//! sipp, driven with the scenarios of `tests/sipp/` (see its README).
//!
//! Every run gets `-m CALLS -timeout 20s -timeout_error`, its own directory
//! for the error, message and screen logs, and a hard limit of 30 s after
//! which it is killed. Exit codes (sipp 3.6): 0 every call succeeded, 1 some
//! call failed, 97 stopped by an internal command, 99 ended without any call,
//! 255 fatal error, 254 cannot bind its socket.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::Guard;
use super::{LOOPBACK, Transport, free_port, is_bound, package_file, require_tool, tail, wait_until};

/// A sipp command line being put together.
pub struct Sipp {
    scenario: String,
    remote: Option<SocketAddr>,
    local: SocketAddr,
    transport: Transport,
    calls: u32,
    rate: u32,
    service: String,
    keys: Vec<(String, String)>,
    credentials: Option<(String, String)>,
    /// `-inf`: the rows of an injection file, `[field0]`… of each call.
    rows: Option<String>,
}

impl Sipp {
    /// A client playing `tests/sipp/SCENARIO.xml` towards `remote`.
    pub fn uac(scenario: &str, remote: SocketAddr) -> Sipp {
        Sipp { remote: Some(remote), ..Sipp::uas(scenario) }
    }

    /// A server playing `tests/sipp/SCENARIO.xml` on a free loopback port.
    pub fn uas(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario.to_string(),
            remote: None,
            local: SocketAddr::new(LOOPBACK, free_port()),
            transport: Transport::Udp,
            calls: 1,
            rate: 10,
            service: "service".to_string(),
            keys: Vec::new(),
            credentials: None,
            rows: None,
        }
    }

    /// `-t u1` (default) or `-t t1`.
    pub fn transport(mut self, transport: Transport) -> Sipp {
        self.transport = transport;
        self
    }

    /// The address to listen on (`-i`, `-p`).
    pub fn local(mut self, local: SocketAddr) -> Sipp {
        self.local = local;
        self
    }

    /// `-s`: the user part called (UAC) or played (UAS), `[service]`.
    pub fn service(mut self, service: &str) -> Sipp {
        self.service = service.to_string();
        self
    }

    /// `-key NAME VALUE`: the scenario's `[NAME]`.
    pub fn key(mut self, name: &str, value: impl ToString) -> Sipp {
        self.keys.push((name.to_string(), value.to_string()));
        self
    }

    /// `-au` and `-ap`: what `[authentication]` answers a digest challenge with.
    pub fn credentials(mut self, user: &str, password: &str) -> Sipp {
        self.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// `-inf`: one call per row, in order (`SEQUENTIAL`), each row's
    /// `;`-separated values as the scenario's `[field0]`, `[field1]`…; sets
    /// `-m` to the number of rows.
    pub fn rows(mut self, rows: &[Vec<&str>]) -> Sipp {
        let mut text = String::from("SEQUENTIAL\n");
        for row in rows {
            text.push_str(&row.join(";"));
            text.push('\n');
        }
        self.calls = u32::try_from(rows.len()).expect("fewer rows than u32::MAX");
        self.rows = Some(text);
        self
    }

    /// `-m` and `-r`: make (or answer) `calls` calls, starting `rate` a second.
    pub fn calls(mut self, calls: u32, rate: u32) -> Sipp {
        (self.calls, self.rate) = (calls, rate);
        self
    }

    /// Start sipp. A server is returned once its socket is bound, so that a
    /// client started next finds it.
    pub fn start(self) -> SippRun {
        let sipp = require_tool("sipp");
        let scenario = package_file(&format!("sipp/{}.xml", self.scenario));
        assert!(scenario.is_file(), "no scenario {}", scenario.display());
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let log = |name: &str| dir.path().join(name);
        let transport = match self.transport {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        };
        let mut command = Command::new(sipp);
        if let Some(remote) = self.remote {
            command.arg(remote.to_string());
        }
        command
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", &self.local.ip().to_string(), "-p", &self.local.port().to_string()])
            .args(["-t", transport, "-s", &self.service])
            .args(["-m", &self.calls.to_string(), "-r", &self.rate.to_string()])
            .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
            .args(["-mp", &free_port().to_string()])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(log("errors.log"))
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(log("messages.log"))
            .arg("-trace_screen")
            .arg("-screen_file")
            .arg(log("screen.log"));
        for (name, value) in &self.keys {
            command.args(["-key", name, value]);
        }
        if let Some((user, password)) = &self.credentials {
            command.args(["-au", user, "-ap", password]);
        }
        if let Some(rows) = &self.rows {
            std::fs::write(log("rows.csv"), rows).expect("write sipp's injection file");
            command.arg("-inf").arg(log("rows.csv"));
        }
        let output = std::fs::File::create(log("output.log")).expect("create sipp's output log");
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone a file handle"))
            .stderr(output);
        let name = format!("sipp {} ({} on {})", self.scenario, self.transport.name(), self.local);
        let mut process = Guard::spawn(&name, command);
        if self.remote.is_none() {
            let bound = wait_until(Duration::from_secs(10), || {
                process.exited().is_some() || is_bound(self.transport, self.local)
            });
            assert!(bound && process.exited().is_none(), "{name} did not start listening");
        }
        SippRun { name, process, dir }
    }

    /// Start sipp and wait for it to finish.
    pub fn run(self) -> SippOutcome {
        self.start().wait()
    }
}

/// A sipp process.
pub struct SippRun {
    name: String,
    process: Guard,
    dir: tempfile::TempDir,
}

impl SippRun {
    /// Wait for sipp to exit (at most 30 s, then it is killed).
    pub fn wait(mut self) -> SippOutcome {
        let status = self.process.wait_for_exit(Duration::from_secs(30));
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        SippOutcome {
            name: self.name.clone(),
            code: status.and_then(|s| s.code()),
            errors: read("errors.log"),
            messages: read("messages.log"),
            screen: read("screen.log"),
            output: read("output.log"),
        }
    }
}

/// How a sipp run ended, with its logs.
#[derive(Debug)]
pub struct SippOutcome {
    pub name: String,
    /// The exit code; `None` if it was killed.
    pub code: Option<i32>,
    pub errors: String,
    pub messages: String,
    pub screen: String,
    pub output: String,
}

impl SippOutcome {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// What the exit code means.
    pub fn meaning(&self) -> &'static str {
        match self.code {
            Some(0) => "every call succeeded",
            Some(1) => "at least one call failed",
            Some(97) => "stopped by an internal command",
            Some(99) => "ended without processing a call",
            Some(254) => "fatal error binding a socket",
            Some(255) => "fatal error (or the global timeout)",
            Some(_) => "unexpected exit code",
            None => "killed after 30 s",
        }
    }

    /// A report for a failure message: exit code, errors and the last messages.
    pub fn report(&self) -> String {
        format!(
            "{}: exit {:?} ({})\n--- errors ---\n{}\n--- last messages ---\n{}\n--- output ---\n{}",
            self.name,
            self.code,
            self.meaning(),
            tail(&self.errors, 30),
            tail(&self.messages, 60),
            tail(&self.output, 15),
        )
    }
}

/// Assert that every sipp run succeeded; the failure message has each
/// failed run's report.
pub fn assert_all_succeeded(outcomes: &[&SippOutcome]) {
    let failed: Vec<String> = outcomes.iter().filter(|o| !o.succeeded()).map(|o| o.report()).collect();
    assert!(failed.is_empty(), "sipp failed:\n{}", failed.join("\n\n"));
}

/// `user@domain` registers through `proxy` with sipp's own digest
/// (`register_auth.xml`: challenged, then answered with `password`), binding
/// `contact` over UDP for 300 s; asserts that sipp's exchange went as
/// written.
pub fn register_with_digest(proxy: SocketAddr, domain: &str, user: &str, password: &str, contact: SocketAddr) {
    let outcome = Sipp::uac("register_auth", proxy)
        .service(user)
        .credentials(user, password)
        .key("domain", domain)
        .key("contact_port", contact.port())
        .key("contact_transport", "udp")
        .key("expires", 300)
        .run();
    assert_all_succeeded(&[&outcome]);
}

/// A user agent server started, then a client run against it until done:
/// both must have gone as their scenarios are written.
pub fn exchange(server: Sipp, client: Sipp) {
    let server = server.start();
    let client = client.run();
    let server = server.wait();
    assert_all_succeeded(&[&client, &server]);
}
