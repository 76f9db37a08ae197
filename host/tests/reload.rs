//! Hot reload of a running proxy, in process: a plugin replaced through the
//! file watch and through `POST /reload`, broken versions refused while the
//! old one keeps answering, signatures required at start and at reload, the
//! admin API's view of it, and `/metrics` checked with a Prometheus parser
//! against the traffic sent.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sipwarden::config::Config;
use sipwarden::policy::SecretKey;
use sipwarden::server::{ServeError, Server};
use sipwarden::transport::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(3);

/// The plugin every test swaps: `gate`, first the block-scanners example
/// answering scanners with `403 Gate v1`.
const GATE_V1: &str = "order = 10\ncapabilities = []\n[config]\nreason = \"Gate v1\"\n";
const GATE_V2: &str = "order = 10\ncapabilities = []\n[config]\nreason = \"Gate v2\"\n";

/// A running proxy whose plugin directory the test rewrites.
struct Running {
    sip: SocketAddr,
    admin: SocketAddr,
    plugins: PathBuf,
    token: Option<String>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(watch: bool, token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    try_start(dir, watch, token, "", &wasm_bytes("block-scanners"), None).await.unwrap()
}

/// Start a proxy in `dir` whose `[plugins]` section has the `plugins` lines
/// added, serving `gate` (with `gate_sig` as its `gate.wasm.sig`); the
/// start's error if it refuses to start.
async fn try_start(
    dir: tempfile::TempDir,
    watch: bool,
    token: Option<&str>,
    plugins_extra: &str,
    gate: &[u8],
    gate_sig: Option<&[u8]>,
) -> Result<Running, ServeError> {
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("gate.wasm"), gate).unwrap();
    if let Some(sig) = gate_sig {
        std::fs::write(plugins.join("gate.wasm.sig"), sig).unwrap();
    }
    std::fs::write(plugins.join("gate.toml"), GATE_V1).unwrap();
    let token_line = token.map(|t| format!("token = \"{t}\"\n")).unwrap_or_default();
    let text = format!(
        "[plugins]\ndir = \"plugins\"\nwatch = {watch}\n{plugins_extra}[listen]\nudp = [\"127.0.0.1:0\"]\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n{token_line}"
    );
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(&path, text).unwrap();
    let server = Server::start(&Config::load(&path).unwrap()).await?;
    let sip = server.transport.local_addr(Transport::Udp).unwrap();
    let admin = server.admin_addr.expect("[admin] is configured");
    let server = tokio::spawn(server.run());
    Ok(Running { sip, admin, plugins, token: token.map(str::to_string), server, _dir: dir })
}

impl Running {
    /// Send a request and return the status line of its final answer.
    async fn ask(&self, ua: &UdpSocket, extra: &str) -> String {
        let text = message(ua.local_addr().unwrap().port(), &next_branch(), extra);
        ua.send_to(text.as_bytes(), self.sip).await.unwrap();
        recv_status(ua).await
    }

    /// A scanner's MESSAGE: what `gate` answers.
    async fn scanner(&self, ua: &UdpSocket) -> String {
        self.ask(ua, "User-Agent: friendly-scanner\r\n").await
    }

    async fn http(&self, method: &str, path: &str) -> (u16, String) {
        http(self.admin, method, path, self.token.as_deref()).await
    }

    async fn reload(&self) -> Value {
        let (status, body) = self.http("POST", "/reload").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn plugin(&self, name: &str) -> Value {
        let (status, body) = self.http("GET", "/plugins").await;
        assert_eq!(status, 200, "{body}");
        let plugins: Value = serde_json::from_str(&body).unwrap();
        plugins.as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap_or(Value::Null)
    }

    fn write(&self, file: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.plugins.join(file), bytes).unwrap();
    }
}

static BRANCH: AtomicU64 = AtomicU64::new(0);

fn next_branch() -> String {
    format!("z9hG4bKreload{}", BRANCH.fetch_add(1, Ordering::Relaxed))
}

/// A MESSAGE to a domain the proxy neither serves nor relays: what the chain
/// lets through is answered `403 Relaying Denied` by the proxy.
fn message(port: u16, branch: &str, extra: &str) -> String {
    format!(
        "MESSAGE sip:bob@elsewhere.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{port}\r\nTo: <sip:bob@elsewhere.example>\r\n\
         Call-ID: {branch}@test\r\nCSeq: 1 MESSAGE\r\n{extra}Content-Length: 5\r\n\r\nhello"
    )
}

async fn ua() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

async fn recv_status(ua: &UdpSocket) -> String {
    let mut buf = vec![0; 65_535];
    loop {
        let (n, _) = tokio::time::timeout(WAIT, ua.recv_from(&mut buf)).await.expect("an answer in time").unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_string();
        if !status.starts_with("SIP/2.0 1") {
            return status;
        }
    }
}

/// A bare HTTP/1.1 client: one request per connection.
async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{auth}Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.expect("an answer").unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, body.to_string())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn wasm_bytes(name: &str) -> Vec<u8> {
    std::fs::read(common::wasm(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_decides_the_next_request_within_a_second_of_the_file_change() {
    let proxy = start(true, None).await;
    let ua = ua().await;
    assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Gate v1");

    // Rename into place, as a deployment tool does.
    let staged = proxy.plugins.join("gate.toml.new");
    std::fs::write(&staged, GATE_V2).unwrap();
    std::fs::rename(&staged, proxy.plugins.join("gate.toml")).unwrap();
    let changed = Instant::now();
    loop {
        let status = proxy.scanner(&ua).await;
        if status == "SIP/2.0 403 Gate v2" {
            break;
        }
        assert_eq!(status, "SIP/2.0 403 Gate v1", "the old version answers until the new one serves");
        assert!(changed.elapsed() < Duration::from_secs(1), "the new version must serve within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = changed.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

    // The component itself, copied over in place (not renamed): same result.
    let hostile = wasm_bytes("hostile");
    proxy.write(
        "gate.toml",
        "order = 10\ncapabilities = [\"log\", \"audit\"]\n[failure]\nstatus = 503\nreason = \"Gate v3\"\n\
         [config]\nmode = \"decline\"\n",
    );
    proxy.write("gate.wasm", &hostile);
    let changed = Instant::now();
    loop {
        let status = proxy.ask(&ua, "User-Agent: friendly-scanner\r\nX-Hostile: 1\r\n").await;
        if status == "SIP/2.0 503 Gate v3" {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "the new component must serve within 1 s: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.plugin("gate").await["sha256"], sha256(&hostile));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_swaps_the_component_for_the_next_request() {
    let proxy = start(false, None).await;
    let ua = ua().await;
    let v1 = proxy.plugin("gate").await;
    assert_eq!(v1["sha256"], sha256(&wasm_bytes("block-scanners")));
    assert_eq!(v1["position"], 0);
    assert!(v1["loaded-at"].as_str().unwrap().ends_with('Z'), "{v1}");
    // No `version` in the test manifest: the field is there, and null.
    assert_eq!(v1.get("version"), Some(&serde_json::Value::Null), "{v1}");

    // Another component under the same name: the hostile test plugin, which
    // declines requests marked X-Hostile (so its failure policy answers).
    let hostile = wasm_bytes("hostile");
    proxy.write("gate.wasm", &hostile);
    proxy.write(
        "gate.toml",
        "order = 10\ncapabilities = [\"log\", \"audit\"]\n[failure]\nstatus = 503\nreason = \"Gate v2\"\n\
         [config]\nmode = \"decline\"\n",
    );
    let scan_marked = "User-Agent: friendly-scanner\r\nX-Hostile: 1\r\n";
    assert_eq!(proxy.ask(&ua, scan_marked).await, "SIP/2.0 403 Gate v1", "no watch: nothing changes by itself");

    let report = proxy.reload().await;
    assert_eq!(report["trigger"], "api");
    assert_eq!(report["replaced"][0]["name"], "gate", "{report}");
    assert_eq!(report["replaced"][0]["old-sha256"], v1["sha256"]);
    assert_eq!(report["replaced"][0]["new-sha256"], sha256(&hostile));
    assert_eq!(report["refused"], serde_json::json!([]));
    assert_eq!(proxy.ask(&ua, scan_marked).await, "SIP/2.0 503 Gate v2");

    let v2 = proxy.plugin("gate").await;
    assert_eq!(v2["sha256"], sha256(&hostile));
    assert_eq!((v2["calls"].as_u64(), v2["declined"].as_u64()), (Some(1), Some(1)), "new counters: {v2}");

    // A second reload with nothing changed keeps the plugin and its counters.
    let report = proxy.reload().await;
    assert_eq!((report["replaced"].as_array().unwrap().len(), report["unchanged"].as_u64()), (0, Some(1)));
    assert_eq!(proxy.plugin("gate").await["calls"], 1);

    // A removed component leaves the chain.
    std::fs::remove_file(proxy.plugins.join("gate.wasm")).unwrap();
    let report = proxy.reload().await;
    assert_eq!(report["removed"][0]["name"], "gate", "{report}");
    assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Relaying Denied", "no policy left to stop it");
    assert_eq!(proxy.plugin("gate").await, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_versions_are_refused_and_the_old_one_keeps_answering() {
    let proxy = start(false, None).await;
    let ua = ua().await;
    let scanners = wasm_bytes("block-scanners");
    let hostile = wasm_bytes("hostile");
    let hostile_manifest =
        |grants: &str, mode: &str| format!("capabilities = [{grants}]\n[config]\nmode = \"{mode}\"\n");
    let cases = [
        ("corrupt", scanners[..scanners.len() / 2].to_vec(), GATE_V2.to_string(), "invalid component"),
        (
            "ungranted import",
            hostile.clone(),
            hostile_manifest("\"log\"", "audit"),
            "does not grant the `audit` capability",
        ),
        (
            "configuration refused",
            hostile.clone(),
            hostile_manifest("\"log\", \"audit\"", "refuse-config"),
            "refused its configuration: this configuration is refused on purpose",
        ),
        ("wrong pin", scanners.clone(), format!("sha256 = \"{}\"\n{GATE_V2}", "0".repeat(64)), "SHA-256 mismatch"),
    ];
    let v1 = sha256(&scanners);
    for (case, wasm, manifest, expected) in cases {
        proxy.write("gate.wasm", &wasm);
        proxy.write("gate.toml", &manifest);
        let report = proxy.reload().await;
        let refused = &report["refused"][0];
        assert_eq!(refused["name"], "gate", "{case}: {report}");
        assert!(refused["error"].as_str().unwrap().contains(expected), "{case}: {refused}");
        assert_eq!(refused["old-version-serves"], true, "{case}");
        assert_eq!(report["replaced"], serde_json::json!([]), "{case}");

        assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Gate v1", "{case}: the old version answers");
        let gate = proxy.plugin("gate").await;
        assert_eq!(gate["sha256"], v1, "{case}");
        assert_eq!(gate["position"], 0, "{case}");
        assert!(gate["last-reload-error"].as_str().unwrap().contains(expected), "{case}: {gate}");
        assert_eq!(gate["refused-sha256"], sha256(&wasm), "{case}");
    }

    // A new plugin that never loads is listed, out of the chain.
    proxy.write("extra.wasm", b"\0asm\x0d\0\x01\0 truncated");
    let report = proxy.reload().await;
    let extra = report["refused"].as_array().unwrap().iter().find(|r| r["name"] == "extra").unwrap();
    assert_eq!(extra["old-version-serves"], false);
    let listed = proxy.plugin("extra").await;
    assert_eq!((listed["position"].clone(), listed["sha256"].clone()), (Value::Null, Value::Null), "{listed}");
    assert!(listed["last-reload-error"].as_str().unwrap().contains("invalid component"), "{listed}");
    std::fs::remove_file(proxy.plugins.join("extra.wasm")).unwrap();

    // Put back as it serves: the error is cleared, nothing is reloaded.
    proxy.write("gate.wasm", &scanners);
    proxy.write("gate.toml", GATE_V1);
    let report = proxy.reload().await;
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
    assert_eq!(report["replaced"], serde_json::json!([]), "{report}");
    assert_eq!(proxy.plugin("gate").await["last-reload-error"], Value::Null);
    assert_eq!(proxy.plugin("extra").await, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_refuses_a_corrupt_copy_and_takes_the_complete_one() {
    let proxy = start(true, None).await;
    let ua = ua().await;
    let scanners = wasm_bytes("block-scanners");
    // A copy cut short, as if the copy had stalled for longer than the debounce.
    proxy.write("gate.wasm", &scanners[..scanners.len() / 3]);
    proxy.write("gate.toml", GATE_V2);
    let deadline = Instant::now() + Duration::from_secs(3);
    let error = loop {
        let gate = proxy.plugin("gate").await;
        if let Some(error) = gate["last-reload-error"].as_str() {
            break error.to_string();
        }
        assert!(Instant::now() < deadline, "the watch reloads: {gate}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("invalid component"), "{error}");
    assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Gate v1");

    // The copy completes: the next change event loads it.
    proxy.write("gate.wasm", &scanners);
    let deadline = Instant::now() + Duration::from_secs(3);
    while proxy.scanner(&ua).await != "SIP/2.0 403 Gate v2" {
        assert!(Instant::now() < deadline, "the complete copy loads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.plugin("gate").await["last-reload-error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_being_answered_through_reloads() {
    let proxy = std::sync::Arc::new(start(false, None).await);
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let ua = ua().await;
                let mut answers = Vec::new();
                for _ in 0..75 {
                    answers.push(proxy.scanner(&ua).await);
                }
                answers
            })
        })
        .collect();
    for swap in 0..6 {
        proxy.write("gate.toml", if swap % 2 == 0 { GATE_V2 } else { GATE_V1 });
        let report = proxy.reload().await;
        assert_eq!(report["replaced"][0]["name"], "gate", "{report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answered = 0;
    for sender in senders {
        for status in sender.await.unwrap() {
            assert!(status == "SIP/2.0 403 Gate v1" || status == "SIP/2.0 403 Gate v2", "{status}");
            answered += 1;
        }
    }
    assert_eq!(answered, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_and_metrics_match_the_traffic() {
    let proxy = start(false, Some("s3cret")).await;
    for path in ["/healthz", "/plugins", "/metrics"] {
        let (status, _) = http(proxy.admin, "GET", path, None).await;
        assert_eq!(status, 401, "{path} without the token");
        let (status, _) = http(proxy.admin, "GET", path, Some("wrong")).await;
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    assert_eq!(http(proxy.admin, "POST", "/reload", None).await.0, 401);
    assert_eq!(proxy.http("GET", "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(proxy.http("GET", "/reload").await.0, 405);
    assert_eq!(proxy.http("GET", "/nothing").await.0, 404);

    let ua = ua().await;
    for _ in 0..3 {
        assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Gate v1");
    }
    // A retransmission is answered again but is not another transaction.
    let port = ua.local_addr().unwrap().port();
    let scan = message(port, &next_branch(), "User-Agent: friendly-scanner\r\n");
    for _ in 0..2 {
        ua.send_to(scan.as_bytes(), proxy.sip).await.unwrap();
        assert_eq!(recv_status(&ua).await, "SIP/2.0 403 Gate v1");
    }
    assert_eq!(proxy.ask(&ua, "").await, "SIP/2.0 403 Relaying Denied");
    for _ in 0..2 {
        let options = format!(
            "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=o\r\nTo: <sip:{}>\r\nCall-ID: o{port}@test\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            proxy.sip,
            next_branch(),
            proxy.sip
        );
        ua.send_to(options.as_bytes(), proxy.sip).await.unwrap();
        assert_eq!(recv_status(&ua).await, "SIP/2.0 200 OK");
    }
    proxy.reload().await;

    let (status, text) = proxy.http("GET", "/metrics").await;
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    for family in [
        "sipwarden_plugin_call_seconds",
        "sipwarden_plugin_verdicts_total",
        "sipwarden_plugin_failures_total",
        "sipwarden_transactions_total",
        "sipwarden_reloads_total",
        "sipwarden_reload_failures_total",
    ] {
        assert!(scrape.docs.contains_key(family), "# HELP {family}");
    }
    let value = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {metric} {labels:?} in\n{text}"));
        match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{metric}: {other:?}"),
        }
    };
    // 3 scanners + 1 retransmitted scanner + 1 let through: 5 MESSAGE
    // transactions ending 403; 2 OPTIONS ending 200.
    assert_eq!(value("sipwarden_transactions_total", &[("method", "MESSAGE"), ("status", "403")]), 5.0);
    assert_eq!(value("sipwarden_transactions_total", &[("method", "OPTIONS"), ("status", "200")]), 2.0);
    // 6 MESSAGE datagrams (one scanner sent twice) and 2 OPTIONS in, each
    // answered once.
    assert_eq!(value("sipwarden_transport_datagrams_total", &[("direction", "in")]), 8.0);
    assert_eq!(value("sipwarden_transport_datagrams_total", &[("direction", "out")]), 8.0);
    assert_eq!(value("sipwarden_transport_connections", &[]), 0.0);
    assert!(value("sipwarden_transport_bytes_total", &[("direction", "in")]) > 8.0 * 200.0);
    let gate = [("plugin", "gate")];
    assert_eq!(value("sipwarden_plugin_calls_total", &gate), 7.0);
    assert_eq!(value("sipwarden_plugin_verdicts_total", &[("plugin", "gate"), ("verdict", "respond")]), 4.0);
    assert_eq!(value("sipwarden_plugin_verdicts_total", &[("plugin", "gate"), ("verdict", "continue")]), 3.0);
    assert_eq!(value("sipwarden_plugin_failures_total", &[("plugin", "gate"), ("kind", "trap")]), 0.0);
    assert_eq!(
        value("sipwarden_plugin_info", &[("plugin", "gate"), ("sha256", &sha256(&wasm_bytes("block-scanners")))]),
        1.0
    );
    assert_eq!(value("sipwarden_reloads_total", &[("trigger", "api")]), 1.0);
    assert_eq!(value("sipwarden_reload_failures_total", &[("kind", "plugin")]), 0.0);
    assert_eq!(value("sipwarden_plugin_call_seconds_count", &[("plugin", "gate"), ("call", "decide")]), 7.0);

    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "sipwarden_plugin_call_seconds" && s.labels.get("call") == Some("decide"))
        .expect("the decide histogram");
    let prometheus_parse::Value::Histogram(buckets) = &histogram.value else { panic!("{:?}", histogram.value) };
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).expect("+Inf bucket");
    assert_eq!(inf.count, 7.0);
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative buckets: {buckets:?}");
}

#[test]
fn the_example_configuration_still_parses_with_admin() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sipwarden.toml");
    let config = Config::load(&path).unwrap();
    let admin = config.admin.expect("the example shows [admin]");
    assert!(admin.listen.ip().is_loopback());
}

/// An operator's signing key pair in `dir`: the secret key, and
/// `trusted-keys` naming the public one (as `ops.pub`, beside the
/// configuration).
fn signing_key(dir: &Path) -> (SecretKey, String, String) {
    let (secret, public, fingerprint) = sipwarden::policy::generate_key_pair();
    std::fs::write(dir.join("ops.pub"), public).unwrap();
    (SecretKey::from_bytes(&secret).unwrap(), "trusted-keys = [\"ops.pub\"]\n".into(), fingerprint)
}

fn signed(component: &[u8], key: &SecretKey) -> Vec<u8> {
    sipwarden::policy::sign(component, key, false).unwrap().component
}

/// One byte of the code changed after signing: the last, inside the last
/// section, so that the file is still read as a component.
fn tampered(mut signed: Vec<u8>) -> Vec<u8> {
    let last = signed.len() - 1;
    signed[last] ^= 0x01;
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trusted_keys_only_a_component_they_signed_starts() {
    let scanners = wasm_bytes("block-scanners");
    let (stranger, _, _) = signing_key(tempfile::tempdir().unwrap().path());

    // Embedded and detached good signatures: the proxy starts, decides, and
    // shows who signed.
    for detached in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (key, trusted, fingerprint) = signing_key(dir.path());
        let made = sipwarden::policy::sign(&scanners, &key, detached).unwrap();
        let proxy = try_start(dir, false, None, &trusted, &made.component, made.detached.as_deref()).await.unwrap();
        assert_eq!(proxy.scanner(&ua().await).await, "SIP/2.0 403 Gate v1", "detached: {detached}");
        let signer = &proxy.plugin("gate").await["signer"];
        assert_eq!(signer["fingerprint"], fingerprint.as_str(), "{signer}");
        assert_eq!(signer["detached"], detached, "{signer}");
        assert!(signer["key-file"].as_str().unwrap().ends_with("ops.pub"), "{signer}");
    }

    for case in ["no signature", "untrusted key", "a byte changed"] {
        let dir = tempfile::tempdir().unwrap();
        let (key, trusted, _) = signing_key(dir.path());
        let (component, expected) = match case {
            "no signature" => (scanners.clone(), "not signed, and [plugins] trusted-keys requires a signature"),
            "untrusted key" => (signed(&scanners, &stranger), "signed by a key that is not trusted (key id "),
            _ => (tampered(signed(&scanners, &key)), "it was changed after it was signed"),
        };
        let error = match try_start(dir, false, None, &trusted, &component, None).await {
            Ok(_) => panic!("{case}: the proxy started"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("gate.wasm: ") && error.contains(expected), "{case}: {error}");
    }

    // Without trusted keys nothing is checked: the unsigned plugin serves,
    // and no signer is shown.
    let proxy = start(false, None).await;
    assert_eq!(proxy.plugin("gate").await["signer"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refuses_what_no_trusted_key_signed_and_the_old_version_keeps_serving() {
    let scanners = wasm_bytes("block-scanners");
    let hostile = wasm_bytes("hostile");
    let dir = tempfile::tempdir().unwrap();
    let (key, trusted, fingerprint) = signing_key(dir.path());
    let (stranger, _, _) = signing_key(tempfile::tempdir().unwrap().path());
    let proxy = try_start(dir, false, None, &trusted, &signed(&scanners, &key), None).await.unwrap();
    let ua = ua().await;
    let v1 = proxy.plugin("gate").await;

    let hostile_manifest = "order = 10\ncapabilities = [\"log\", \"audit\"]\n[failure]\nstatus = 503\n\
                            reason = \"Gate v2\"\n[config]\nmode = \"decline\"\n";
    proxy.write("gate.toml", hostile_manifest);
    let cases = [
        ("no signature", hostile.clone(), "not signed"),
        ("untrusted key", signed(&hostile, &stranger), "signed by a key that is not trusted"),
        ("a byte changed", tampered(signed(&hostile, &key)), "changed after it was signed"),
    ];
    for (case, component, expected) in cases {
        proxy.write("gate.wasm", &component);
        let report = proxy.reload().await;
        let refused = &report["refused"][0];
        assert_eq!(refused["name"], "gate", "{case}: {report}");
        assert!(refused["error"].as_str().unwrap().contains(expected), "{case}: {refused}");
        assert_eq!(refused["old-version-serves"], true, "{case}");
        assert_eq!(proxy.scanner(&ua).await, "SIP/2.0 403 Gate v1", "{case}: the old version answers");
        let gate = proxy.plugin("gate").await;
        assert_eq!((&gate["sha256"], &gate["signer"]), (&v1["sha256"], &v1["signer"]), "{case}");
        assert!(gate["last-reload-error"].as_str().unwrap().contains(expected), "{case}: {gate}");
    }

    // A detached signature put beside the unsigned component lets it in: a
    // new `.sig` is a change of the plugin's files like any other.
    proxy.write("gate.wasm", &hostile);
    let made = sipwarden::policy::sign(&hostile, &key, true).unwrap();
    proxy.write("gate.wasm.sig", made.detached.unwrap());
    let report = proxy.reload().await;
    assert_eq!(report["replaced"][0]["new-sha256"], sha256(&hostile), "{report}");
    assert_eq!(proxy.ask(&ua, "User-Agent: friendly-scanner\r\nX-Hostile: 1\r\n").await, "SIP/2.0 503 Gate v2");
    let gate = proxy.plugin("gate").await;
    assert_eq!((&gate["signer"]["fingerprint"], &gate["signer"]["detached"]), (&fingerprint.into(), &true.into()));
    assert_eq!(gate["last-reload-error"], Value::Null);

    // The signature removed: refused again, and the signed version serves.
    std::fs::remove_file(proxy.plugins.join("gate.wasm.sig")).unwrap();
    let report = proxy.reload().await;
    assert!(report["refused"][0]["error"].as_str().unwrap().contains("not signed"), "{report}");
    assert_eq!(proxy.ask(&ua, "User-Agent: friendly-scanner\r\nX-Hostile: 1\r\n").await, "SIP/2.0 503 Gate v2");
}
