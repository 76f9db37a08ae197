//! A running `sipwarden serve`, configured for one test.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::Guard;
use super::sip::{self, Message};
use super::{LOOPBACK, free_port, repo_root, tail, wait_until};

/// How the proxy under test is configured (written out as TOML).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `[registrar] domains`; `None`: no embedded registrar.
    pub registrar: Option<Vec<String>>,
    /// `[upstream] uri`.
    pub upstream: Option<String>,
    /// Components copied into the plugin directory: (wasm file, manifest).
    pub plugins: Vec<(PathBuf, PathBuf)>,
    /// `[limits]` entries, e.g. `("header-timeout-ms", 500)`.
    pub limits: Vec<(&'static str, u64)>,
    /// `[tls]` certificate and private key (PEM); `None`: the generated dev certificate.
    pub tls_identity: Option<(String, String)>,
    /// Bundled policies (`plugins/bundle/NAME.wasm`) with the text of their
    /// manifests, as shipped or as a test adapted them.
    pub bundled: Vec<(String, String)>,
    /// Components under a name of the test's choosing: (name, wasm file,
    /// manifest text).
    pub named: Vec<(String, PathBuf, String)>,
    /// `[audit] durability` (`"strict"`, `"batched"`); the trail is
    /// `audit.jsonl` in the proxy's directory ([`Sipwarden::audit_path`]).
    /// `None`: no `[audit]`.
    pub audit: Option<String>,
    /// `[directory] file`: copied into the proxy's directory. `None`: no `[directory]`.
    pub directory: Option<PathBuf>,
    /// `[credentials] file`: copied into the proxy's directory. `None`: no `[credentials]`.
    pub credentials: Option<PathBuf>,
    /// Offer MD5 first and skip the digest-uri check: what sipp 3.6 needs to
    /// answer a challenge (see tests/sipp/README.md).
    pub sipp_digest: bool,
    /// Offer MD5 only, and skip the digest-uri check: JsSIP 3.13 answers
    /// only the *last* challenge of a response and only with MD5, sipp only
    /// the first (tests/browser/README.md), and sipp writes the proxy's
    /// address as the digest uri. For tests where both answer challenges.
    pub md5_only: bool,
    /// `[decision]`: the decision service on free ports, JSON-RPC and HTTP.
    pub decision: bool,
    /// No `[listen]`: sipwarden only decides for another proxy.
    pub no_sip: bool,
}

impl Config {
    /// The embedded registrar for `127.0.0.1` and `localhost`, no upstream.
    pub fn registrar() -> Config {
        Config { registrar: Some(vec!["127.0.0.1".into(), "localhost".into()]), ..Config::default() }
    }

    /// No registrar: everything goes to `uri`.
    pub fn upstream(uri: &str) -> Config {
        Config { upstream: Some(uri.to_string()), ..Config::default() }
    }

    /// Add a plugin built into `target/wasm32-wasip2/plugin/NAME.wasm`, with
    /// its manifest (a path relative to the project root).
    pub fn plugin(mut self, name: &str, manifest: &str) -> Config {
        let wasm = repo_root().join("target/wasm32-wasip2/plugin").join(format!("{name}.wasm"));
        assert!(
            wasm.is_file(),
            "{} is missing: build the plugins with \
             `cargo build --profile plugin --target wasm32-wasip2 --workspace --exclude sipwarden`",
            wasm.display()
        );
        self.plugins.push((wasm, repo_root().join(manifest)));
        self
    }

    /// What `sipwarden serve` runs by default (`host/src/default.toml`), on
    /// the test's ports: the embedded registrar for `127.0.0.1` and
    /// `localhost`, the four bundled policies with their manifests as
    /// shipped, strict audit, and the demo directory and credential stores
    /// of `plugins/bundle/stores/`.
    pub fn bundle() -> Config {
        let stores = repo_root().join("plugins/bundle/stores");
        Config {
            audit: Some("strict".into()),
            directory: Some(stores.join("directory.toml")),
            credentials: Some(stores.join("credentials.toml")),
            ..Config::registrar()
        }
        .bundled_plugin("audit")
        .bundled_plugin("secure-transport")
        .bundled_plugin("identity")
        .bundled_plugin("lookup-guard")
    }

    /// Add the bundled policy `plugins/bundle/NAME.wasm` with its manifest
    /// `plugins/bundle/NAME.toml` as shipped.
    pub fn bundled_plugin(mut self, name: &str) -> Config {
        let bundle = repo_root().join("plugins/bundle");
        let wasm = bundle.join(format!("{name}.wasm"));
        assert!(wasm.is_file(), "{} is missing: build the bundle with `plugins/build`", wasm.display());
        let manifest = bundle.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
        self.bundled.push((name.to_string(), text));
        self
    }

    /// Add the component built as `target/wasm32-wasip2/plugin/CRATE.wasm`
    /// as the plugin `name`, with this manifest text.
    pub fn plugin_named(mut self, name: &str, crate_file: &str, manifest: String) -> Config {
        let wasm = repo_root().join("target/wasm32-wasip2/plugin").join(format!("{crate_file}.wasm"));
        assert!(wasm.is_file(), "{} is missing: build the plugins with `plugins/build`", wasm.display());
        self.named.push((name.to_string(), wasm, manifest));
        self
    }

    /// Leave the bundled policy `name` out.
    pub fn without_plugin(mut self, name: &str) -> Config {
        let before = self.bundled.len();
        self.bundled.retain(|(bundled, _)| bundled != name);
        assert_ne!(before, self.bundled.len(), "no bundled policy {name} to leave out");
        self
    }

    /// Adapt the manifest of the bundled policy `name`: replace the line
    /// `from` (which must be in it, so that a changed manifest fails the
    /// test loudly instead of being silently left as shipped) with `to`.
    pub fn manifest_line(mut self, name: &str, from: &str, to: &str) -> Config {
        let (_, text) = self
            .bundled
            .iter_mut()
            .find(|(bundled, _)| bundled == name)
            .unwrap_or_else(|| panic!("no bundled policy {name} to adapt"));
        let count = text.lines().filter(|line| line.trim_start().starts_with(from)).count();
        assert_eq!(count, 1, "the manifest of {name} has {count} lines starting with {from:?}, not one:\n{text}");
        *text = text
            .lines()
            .map(|line| if line.trim_start().starts_with(from) { to } else { line })
            .collect::<Vec<_>>()
            .join("\n");
        self
    }

    /// The decision service as well (`[decision]`, JSON-RPC and HTTP).
    pub fn decision(mut self) -> Config {
        self.decision = true;
        self
    }

    /// The decision service and no SIP listener: sipwarden as the policy
    /// decision point of another proxy, and nothing else.
    pub fn decision_only(mut self) -> Config {
        self.decision = true;
        self.no_sip = true;
        self
    }

    pub fn sipp_digest(mut self) -> Config {
        self.sipp_digest = true;
        self
    }

    pub fn md5_only(mut self) -> Config {
        self.md5_only = true;
        self
    }

    pub fn limit(mut self, key: &'static str, value: u64) -> Config {
        self.limits.push((key, value));
        self
    }

    pub fn tls_identity(mut self, certificate_pem: String, private_key_pem: String) -> Config {
        self.tls_identity = Some((certificate_pem, private_key_pem));
        self
    }

    fn to_toml(&self, ports: &Ports) -> String {
        let list = |items: &[String]| items.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ");
        let Ports { sip: port, tls: tls_port, ws, wss, jsonrpc, http } = ports;
        let mut toml = String::from("[plugins]\ndir = \"plugins\"\n\n");
        if !self.no_sip {
            let _ = write!(
                toml,
                "[listen]\nudp = [\"127.0.0.1:{port}\"]\ntcp = [\"127.0.0.1:{port}\"]\ntls = [\"127.0.0.1:{tls_port}\"]\n\
                 ws = [\"127.0.0.1:{ws}\"]\nwss = [\"127.0.0.1:{wss}\"]\n\n\
                 [proxy]\nadvertise = \"127.0.0.1\"\nrecord-route = true\n"
            );
        }
        if self.decision {
            let _ = write!(toml, "\n[decision]\njsonrpc = [\"127.0.0.1:{jsonrpc}\"]\nhttp = [\"127.0.0.1:{http}\"]\n");
        }
        if self.tls_identity.is_some() {
            toml.push_str("\n[tls]\ncertificate = \"cert.pem\"\nprivate-key = \"key.pem\"\n");
        }
        if !self.limits.is_empty() {
            toml.push_str("\n[limits]\n");
            for (key, value) in &self.limits {
                let _ = writeln!(toml, "{key} = {value}");
            }
        }
        if let Some(durability) = &self.audit {
            let _ = write!(toml, "\n[audit]\npath = \"audit.jsonl\"\ndurability = {durability:?}\n");
        }
        if self.directory.is_some() {
            toml.push_str("\n[directory]\nfile = \"directory.toml\"\n");
        }
        if self.credentials.is_some() {
            toml.push_str("\n[credentials]\nfile = \"credentials.toml\"\n");
            if self.sipp_digest {
                toml.push_str("algorithms = [\"MD5\", \"SHA-256\"]\ncheck-uri = false\n");
            } else if self.md5_only {
                toml.push_str("algorithms = [\"MD5\"]\ncheck-uri = false\n");
            }
        }
        if let Some(domains) = &self.registrar {
            let _ = write!(toml, "\n[registrar]\ndomains = [{}]\n", list(domains));
        }
        if let Some(uri) = &self.upstream {
            let _ = write!(toml, "\n[upstream]\nuri = {uri:?}\ndomains = []\n");
        }
        toml
    }
}

/// The ports a test's sipwarden is given.
struct Ports {
    sip: u16,
    tls: u16,
    ws: u16,
    wss: u16,
    jsonrpc: u16,
    http: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            sip: free_port(),
            tls: free_port(),
            ws: free_port(),
            wss: free_port(),
            jsonrpc: free_port(),
            http: free_port(),
        }
    }
}

/// `sipwarden serve` on free loopback ports; killed when dropped.
pub struct Sipwarden {
    /// Where it listens: UDP and TCP share a port.
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: SocketAddr,
    /// SIP over WebSocket and secure WebSocket (RFC 7118).
    pub ws: SocketAddr,
    pub wss: SocketAddr,
    /// The decision service's JSON-RPC and HTTP listeners ([`Config::decision`]).
    pub jsonrpc: SocketAddr,
    pub http: SocketAddr,
    sip: bool,
    config_file: PathBuf,
    log: PathBuf,
    // Dropped in this order: the process, then its directory. `None` while
    // stopped.
    process: Option<Guard>,
    dir: tempfile::TempDir,
}

/// `sipwarden serve --config FILE` in `dir`, logging at debug level to `log`
/// (appended to: a restarted process keeps the earlier lines).
fn spawn(config_file: &std::path::Path, log: &std::path::Path, dir: &std::path::Path) -> Guard {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open the log file");
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .arg("--config")
        .arg(config_file)
        .env("SIPWARDEN_LOG", "debug")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone a file handle"))
        .stderr(log_file);
    Guard::spawn("sipwarden", command)
}

/// The binary under test: `$SIPWARDEN_BIN`, or `target/debug/sipwarden`.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("SIPWARDEN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/sipwarden"));
    assert!(path.is_file(), "{} is missing: build it with `cargo build -p sipwarden`", path.display());
    path
}

impl Sipwarden {
    /// Start the proxy and wait until it answers an OPTIONS over UDP.
    pub fn start(config: &Config) -> Sipwarden {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).expect("create the plugin directory");
        for (wasm, manifest) in &config.plugins {
            let name = wasm.file_name().expect("a file name");
            std::fs::copy(wasm, plugins.join(name)).expect("copy a plugin");
            std::fs::copy(manifest, plugins.join(name).with_extension("toml")).expect("copy a manifest");
        }
        for (name, manifest) in &config.bundled {
            let wasm = repo_root().join("plugins/bundle").join(format!("{name}.wasm"));
            std::fs::copy(&wasm, plugins.join(format!("{name}.wasm"))).expect("copy a bundled plugin");
            std::fs::write(plugins.join(format!("{name}.toml")), manifest).expect("write a manifest");
        }
        for (name, wasm, manifest) in &config.named {
            std::fs::copy(wasm, plugins.join(format!("{name}.wasm"))).expect("copy a plugin");
            std::fs::write(plugins.join(format!("{name}.toml")), manifest).expect("write a manifest");
        }
        for (store, file) in [("directory.toml", &config.directory), ("credentials.toml", &config.credentials)] {
            if let Some(file) = file {
                std::fs::copy(file, dir.path().join(store))
                    .unwrap_or_else(|e| panic!("copy {} into the proxy's directory: {e}", file.display()));
            }
        }
        if let Some((certificate, key)) = &config.tls_identity {
            std::fs::write(dir.path().join("cert.pem"), certificate).expect("write cert.pem");
            std::fs::write(dir.path().join("key.pem"), key).expect("write key.pem");
        }
        let ports = Ports::free();
        let config_file = dir.path().join("sipwarden.toml");
        std::fs::write(&config_file, config.to_toml(&ports)).expect("write the configuration");

        let log = dir.path().join("sipwarden.log");
        let process = spawn(&config_file, &log, dir.path());
        let mut proxy = Sipwarden {
            udp: SocketAddr::new(LOOPBACK, ports.sip),
            tcp: SocketAddr::new(LOOPBACK, ports.sip),
            tls: SocketAddr::new(LOOPBACK, ports.tls),
            ws: SocketAddr::new(LOOPBACK, ports.ws),
            wss: SocketAddr::new(LOOPBACK, ports.wss),
            jsonrpc: SocketAddr::new(LOOPBACK, ports.jsonrpc),
            http: SocketAddr::new(LOOPBACK, ports.http),
            sip: !config.no_sip,
            config_file,
            log,
            process: Some(process),
            dir,
        };
        // Another process may take a port between `free_port` and the bind
        // (every peer here also binds ephemeral ports): start again on fresh
        // ports when that is why sipwarden exited.
        for _ in 0..3 {
            if !proxy.exited_on_a_taken_port() {
                break;
            }
            let ports = Ports::free();
            std::fs::write(&proxy.config_file, config.to_toml(&ports)).expect("write the configuration");
            proxy.udp = SocketAddr::new(LOOPBACK, ports.sip);
            proxy.tcp = proxy.udp;
            proxy.tls = SocketAddr::new(LOOPBACK, ports.tls);
            proxy.ws = SocketAddr::new(LOOPBACK, ports.ws);
            proxy.wss = SocketAddr::new(LOOPBACK, ports.wss);
            proxy.jsonrpc = SocketAddr::new(LOOPBACK, ports.jsonrpc);
            proxy.http = SocketAddr::new(LOOPBACK, ports.http);
            std::fs::write(&proxy.log, "").expect("truncate the log");
            proxy.process = Some(spawn(&proxy.config_file, &proxy.log, proxy.dir.path()));
        }
        proxy.wait_until_serving();
        proxy
    }

    /// Whether the process exited at start because an address was taken.
    fn exited_on_a_taken_port(&mut self) -> bool {
        // SIP is bound after the decision service (the transport layer logs
        // each listener), the admin API after SIP.
        let last_bound = if self.sip { "transport::layer: listening" } else { "decision service listening" };
        let exited = wait_until(Duration::from_secs(5), || {
            self.process.as_mut().and_then(Guard::exited).is_some() || self.log().contains(last_bound)
        });
        exited
            && self.process.as_mut().and_then(Guard::exited).is_some()
            && self.log().contains("Address already in use")
    }

    /// Stop the process (SIGTERM, then SIGKILL); [`Sipwarden::start_again`]
    /// brings it back on the same ports and files.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Start the process again after [`Sipwarden::stop`], with the same
    /// configuration, and wait until it serves.
    pub fn start_again(&mut self) {
        self.process = Some(spawn(&self.config_file, &self.log, self.dir.path()));
        self.wait_until_serving();
    }

    fn wait_until_serving(&mut self) {
        let mut exited = None;
        let sip = self.sip;
        let decision = self.jsonrpc;
        let answered = wait_until(Duration::from_secs(30), || {
            exited = self.process.as_mut().and_then(Guard::exited);
            exited.is_none()
                && if sip {
                    self.options_over_udp().is_ok_and(|r| r.status() == Some(200))
                } else {
                    super::is_bound(super::Transport::Tcp, decision)
                }
        });
        if !answered {
            let state = match exited {
                Some(status) => format!("exited with {status}"),
                None => "did not serve within 30 s".to_string(),
            };
            panic!("sipwarden {state}; its log:\n{}", tail(&self.log(), 60));
        }
    }

    /// Everything the proxy logged so far (at debug level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The audit trail of `[audit]` ([`Config::audit`]).
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// The process id of `sipwarden serve`.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("sipwarden runs").id()
    }

    /// Whether the process has exited (it is reaped then).
    pub fn has_exited(&mut self) -> bool {
        self.process.as_mut().is_none_or(|p| p.exited().is_some())
    }

    /// OPTIONS to the proxy itself over UDP: its final response.
    pub fn options_over_udp(&self) -> Result<Message, String> {
        sip::udp_exchange(self.udp, sip::options_to(self.udp, "UDP"))
    }

    /// OPTIONS to the proxy itself over a new TCP connection.
    pub fn options_over_tcp(&self) -> Result<Message, String> {
        sip::tcp_exchange(self.tcp, sip::options_to(self.tcp, "TCP"))
    }

    /// Assert that the proxy still runs and answers OPTIONS 200 over UDP and TCP.
    pub fn assert_serving(&mut self, after: &str) {
        if let Some(status) = self.process.as_mut().and_then(Guard::exited) {
            panic!("sipwarden exited ({status}) after {after}; its log:\n{}", tail(&self.log(), 60));
        }
        for (transport, outcome) in [("UDP", self.options_over_udp()), ("TCP", self.options_over_tcp())] {
            match outcome {
                Ok(response) if response.status() == Some(200) => {}
                Ok(response) => panic!("after {after}, OPTIONS over {transport} got `{}`", response.start),
                Err(error) => panic!("after {after}, OPTIONS over {transport}: {error}"),
            }
        }
    }
}

impl Drop for Sipwarden {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- sipwarden log ({}), last 80 lines ---\n{}", self.log.display(), tail(&self.log(), 80));
        }
    }
}
