//! The end-to-end harness: the real `sipwarden` binary, real SIP peers (sipp,
//! Kamailio) and raw sockets, all on loopback.
//!
//! - [`proxy`]: writes a configuration and a plugin directory into a temporary
//!   directory, starts `sipwarden serve`, and waits until it answers OPTIONS.
//! - [`sipp`] and [`kamailio`]: the peers, started from `tests/sipp/*.xml` and
//!   `tests/kamailio/upstream.cfg`.
//! - [`sip`]: just enough SIP to send a request and read a response.
//! - [`ua`], [`digest`], [`tls_client`], [`ws`]: a UDP user agent that answers
//!   digest challenges, a SIP-over-TLS client with a test PKI, and a
//!   browser-like SIP-over-WebSocket user agent.
//! - [`audit`]: reading the proxy's JSON Lines audit trail.
//! - [`process`]: the guard that kills and reaps every process started here,
//!   also when a test panics; [`netns`]: runs a test in a private network.
//!
//! What a machine needs: `cargo build -p sipwarden` (and the plugins, built for
//! wasm32-wasip2, for the policy test), and the Debian packages named in
//! [`APT_PACKAGES`]. A missing tool fails the test with the line to run: these
//! tests never skip.

// Each test binary uses a part of the harness.
#![allow(dead_code)]

pub mod audit;
pub mod digest;
pub mod kamailio;
pub mod netns;
pub mod process;
pub mod proxy;
pub mod sip;
pub mod sipp;
pub mod tls_client;
pub mod ua;
pub mod ws;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The Debian packages these tests run.
pub const APT_PACKAGES: &str =
    "sip-tester kamailio kamailio-tls-modules kamailio-utils-modules kamailio-extra-modules sipsak iproute2";

/// Loopback, where every peer listens.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The project root: the parent of this package (`tests/`), or `$SIPWARDEN_REPO`.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("SIPWARDEN_REPO") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf(),
    }
}

/// A file of this package (`tests/`), e.g. `sipp/register.xml`.
pub fn package_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `shared/corpus/rfc4475`, found by walking up from this package: CI clones
/// the repository next to a copy of `shared/`.
pub fn rfc4475_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus/rfc4475"))
        .find(|dir| dir.join("INDEX.tsv").is_file())
        .expect("shared/corpus/rfc4475 not found in any directory above CARGO_MANIFEST_DIR")
}

/// The path of an external program, or a failure that says how to install it.
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: run `apt-get update && apt-get install -y {APT_PACKAGES}`")
    })
}

/// A port that is free on `ip` for both UDP and TCP, and that no other test
/// of this process has been given.
pub fn free_port_on(ip: IpAddr) -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let udp = UdpSocket::bind((ip, 0)).expect("bind a UDP socket to find a free port");
        let port = udp.local_addr().expect("local address").port();
        let tcp_free = TcpListener::bind((ip, port)).is_ok();
        if tcp_free && GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP.
pub fn free_port() -> u16 {
    free_port_on(LOOPBACK)
}

/// The transports a peer can listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Whether some process has `addr` bound: a UDP socket, or a listening TCP
/// socket. Read from `/proc/net` so that checking takes nothing away from the
/// process that is about to bind it.
pub fn is_bound(transport: Transport, addr: SocketAddr) -> bool {
    let (table, listening_state) = match transport {
        Transport::Udp => ("/proc/net/udp", "07"),
        Transport::Tcp => ("/proc/net/tcp", "0A"),
    };
    let IpAddr::V4(ip) = addr.ip() else { panic!("IPv4 only: {addr}") };
    let text = std::fs::read_to_string(table).expect("read /proc/net");
    text.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some((hex_ip, hex_port)) = fields.get(1).and_then(|local| local.split_once(':')) else { return false };
        let bound_ip = u32::from_str_radix(hex_ip, 16).map(|raw| Ipv4Addr::from(raw.to_le_bytes()));
        let ip_matches = bound_ip.is_ok_and(|bound| bound == ip || bound.is_unspecified());
        ip_matches && u16::from_str_radix(hex_port, 16) == Ok(addr.port()) && fields.get(3) == Some(&listening_state)
    })
}

/// Polls `condition` every 20 ms until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `n` lines of a text, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
