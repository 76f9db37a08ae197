//! The decision service in process, through its two front ends: `POST
//! /decide` driven by a real HTTP client (ureq), and JSON-RPC 2.0 over
//! netstrings driven as Kamailio's janssonrpcc drives it. The bundled
//! policies decide; their audit trail and `/metrics` show what happened.
//! (Kamailio itself drives it in `tests/e2e/kamailio_decision.rs`.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use sipwarden::config::Config;
use sipwarden::decision::Interface;
use sipwarden::server::Server;

/// sipwarden with the four bundled policies, deciding only (no SIP
/// listener), on free loopback ports.
struct Decision {
    http: SocketAddr,
    jsonrpc: SocketAddr,
    admin: SocketAddr,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

const DIRECTORY: &str = "[numbers]\n\"+15550100\" = [\"sip:bob@127.0.0.1\"]\n";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn start() -> Decision {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for name in ["audit", "secure-transport", "identity", "lookup-guard"] {
        std::fs::copy(common::wasm(name), plugins.join(format!("{name}.wasm"))).unwrap();
        std::fs::copy(repo().join(format!("plugins/bundle/{name}.toml")), plugins.join(format!("{name}.toml")))
            .unwrap();
    }
    std::fs::write(dir.path().join("directory.toml"), DIRECTORY).unwrap();
    let credentials = repo().join("plugins/bundle/stores/credentials.toml");
    let text = format!(
        "[plugins]\ndir = \"plugins\"\nwatch = false\n\
         [audit]\npath = \"audit.jsonl\"\ndurability = \"strict\"\n\
         [directory]\nfile = \"directory.toml\"\n\
         [credentials]\nfile = {credentials:?}\n\
         [decision]\njsonrpc = [\"127.0.0.1:0\"]\nhttp = [\"127.0.0.1:0\"]\nmax-message-bytes = 4096\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n"
    );
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(&path, text).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start(&Config::load(&path).unwrap())).unwrap();
    assert!(server.proxy.is_none(), "no [listen]: no proxy");
    let addr = |via| server.decision_addrs.iter().find(|(i, _)| *i == via).map(|(_, a)| *a).unwrap();
    let (http, jsonrpc) = (addr(Interface::Http), addr(Interface::JsonRpc));
    let admin = server.admin_addr.unwrap();
    runtime.spawn(server.run());
    Decision { http, jsonrpc, admin, dir, runtime }
}

impl Drop for Decision {
    fn drop(&mut self) {
        // Let the server's tasks go without waiting on blocking threads.
        let runtime = std::mem::replace(&mut self.runtime, tokio::runtime::Runtime::new().unwrap());
        runtime.shutdown_background();
    }
}

impl Decision {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    /// POST `body` to `path`: the status and the JSON answer.
    fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let url = format!("http://{}{path}", self.http);
        let mut response =
            Self::agent().post(&url).header("Content-Type", content_type).send(body).expect("the service answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("a body");
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    fn decide(&self, params: &Value) -> Value {
        let (status, answer) = self.post("/decide", "application/json", &params.to_string());
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin);
        Self::agent().get(&url).call().unwrap().body_mut().read_to_string().unwrap()
    }
}

fn register(call_id: &str, cseq: u32, authorization: Option<&str>) -> String {
    let authorization = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{call_id}-{cseq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a{call_id}\r\nTo: <sip:alice@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:alice@127.0.0.1:5070>\r\nExpires: 300\r\n\
         {authorization}Content-Length: 0\r\n\r\n"
    )
}

fn params(message: &str) -> Value {
    json!({ "message": message, "transport": "udp", "source": "127.0.0.1", "port": 5070 })
}

/// A reply the registrar of the calling proxy would send to `request`.
fn reply_to(request: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines().skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default();
        if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name == "To" {
            out.push_str(line);
            out.push_str(";tag=registrar\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// RFC 7616 qop=auth credentials for `challenge`.
fn credentials(challenge: &str, method: &str, uri: &str) -> String {
    let param = |name: &str| {
        let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = challenge[start..].find('"').unwrap();
        challenge[start..start + len].to_string()
    };
    let md5 = |text: String| hex::encode(Md5::digest(text.as_bytes()));
    let sha256 = |text: String| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let (realm, nonce) = (param("realm"), param("nonce"));
    let hash = |text: String| if challenge.contains("SHA-256") { sha256(text) } else { md5(text) };
    let algorithm = if challenge.contains("SHA-256") { "SHA-256" } else { "MD5" };
    let ha1 = hash(format!("alice:{realm}:alice-secret"));
    let ha2 = hash(format!("{method}:{uri}"));
    let response = hash(format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"));
    format!(
        "Digest username=\"alice\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={algorithm}, cnonce=\"0a4f113b\", qop=auth, nc=00000001"
    )
}

#[test]
fn a_register_is_challenged_then_accepted_and_both_outcomes_audited() {
    let service = start();
    let first = register("reg-1", 1, None);
    let answer = service.decide(&params(&first));
    assert_eq!(answer["verdict"], "respond", "{answer}");
    assert_eq!((answer["status"].as_u64(), answer["reason"].as_str()), (Some(401), Some("Unauthorized")));
    assert_eq!(answer["by"], "identity");
    let challenges: Vec<&str> = answer["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["name"] == "WWW-Authenticate")
        .map(|h| h["value"].as_str().unwrap())
        .collect();
    assert_eq!(challenges.len(), 2, "{answer}");
    let block = answer["reply-headers"].as_str().unwrap();
    assert!(block.starts_with("WWW-Authenticate: Digest ") && block.ends_with("\r\n"), "{block:?}");
    // The challenge is the chain's own reply: audit saw it before the answer.
    let trail = service.audit();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!((trail[0]["status"].as_u64(), trail[0]["authenticated"].as_str()), (Some(401), Some("none")));

    let second = register("reg-1", 2, Some(&credentials(challenges[0], "REGISTER", "sip:127.0.0.1")));
    let answer = service.decide(&json!({
        "message-base64": base64::engine::general_purpose::STANDARD.encode(&second),
        "transport": "UDP", "source": "127.0.0.1", "port": 5070,
    }));
    assert_eq!(answer["verdict"], "continue", "{answer}");
    assert_eq!(answer["observe"], true, "audit waits for the registrar's reply");
    assert!(answer.get("uri").is_none(), "the Request-URI did not change: {answer}");
    assert_eq!(service.audit().len(), 1, "no record before the outcome is known");

    // The calling proxy's registrar answers; it reports the reply.
    let (status, observed) =
        service.post("/observe", "application/json", &json!({ "reply": reply_to(&second, "200 OK") }).to_string());
    assert_eq!((status, &observed), (200, &json!({ "matched": true })));
    let trail = service.audit();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(
        (trail[1]["status"].as_u64(), trail[1]["authenticated"].as_str(), trail[1]["cseq"].as_str()),
        (Some(200), Some("digest"), Some("2 REGISTER"))
    );
    // Reported twice (a forked request's second final reply): not again.
    let (_, again) =
        service.post("/observe", "application/json", &json!({ "reply": reply_to(&second, "200 OK") }).to_string());
    assert_eq!(again, json!({ "matched": false }));
    assert_eq!(service.audit().len(), 2);

    // A registrar that cannot hand over its reply describes it: the request
    // it answered, with the status and reason.
    let again = service.decide(&params(&register("reg-1", 3, None)));
    let challenge = again["headers"][0]["value"].as_str().unwrap().to_string();
    let third = register("reg-1", 4, Some(&credentials(&challenge, "REGISTER", "sip:127.0.0.1")));
    let answer = service.decide(&params(&third));
    assert_eq!(answer["verdict"], "continue", "{answer}");
    let described = json!({ "request": third, "status": 423, "reason": "Interval Too Brief" });
    let (status, observed) = service.post("/observe", "application/json", &described.to_string());
    assert_eq!((status, &observed), (200, &json!({ "matched": true })));
    let trail = service.audit();
    assert_eq!((trail[3]["status"].as_u64(), trail[3]["reason"].as_str()), (Some(423), Some("Interval Too Brief")));
    for (wrong, says) in [
        (json!({ "request": third, "reply": "x", "status": 200 }), "not both"),
        (json!({ "request": third }), "`status`"),
        (json!({ "request": third, "status": 180 }), "not a final status"),
        (json!({ "request": third, "status": 200, "reason": "O\r\nK" }), "one line"),
    ] {
        let (status, answer) = service.post("/observe", "application/json", &wrong.to_string());
        assert_eq!(status, 400, "{wrong}: {answer}");
        assert!(answer["error"].as_str().unwrap_or_default().contains(says), "{wrong}: {answer}");
    }

    let metrics = service.metrics();
    for line in [
        "sipwarden_decisions_total{interface=\"http\",outcome=\"respond\"} 2",
        "sipwarden_decisions_total{interface=\"http\",outcome=\"continue\"} 2",
        "sipwarden_decision_observations_total{result=\"matched\"} 2",
        "sipwarden_decision_observations_total{result=\"unmatched\"} 1",
        "sipwarden_decision_seconds_count 4",
        "sipwarden_decision_waiting 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in\n{metrics}");
    }
}

#[test]
fn a_message_to_a_number_is_retargeted_and_a_forged_identity_removed() {
    let service = start();
    // A trusted core asserts alice; this request comes from elsewhere and
    // forges it: identity removes the assertion and challenges.
    let message = "MESSAGE tel:+1-555-0100 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bK-m1\r\n\
                   Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=m1\r\nTo: <tel:+1-555-0100>\r\n\
                   Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nP-Asserted-Identity: <sip:ceo@127.0.0.1>\r\n\
                   Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    let answer = service.decide(&params(message));
    assert_eq!((answer["verdict"].as_str(), answer["status"].as_u64()), (Some("respond"), Some(407)), "{answer}");
    let challenge = answer["headers"][0]["value"].as_str().unwrap().to_string();
    let with_credentials = message.replace(
        "Content-Type",
        &format!("Proxy-Authorization: {}\r\nContent-Type", credentials(&challenge, "MESSAGE", "tel:+1-555-0100")),
    );
    let with_credentials = with_credentials.replace("CSeq: 1", "CSeq: 2");
    let answer = service.decide(&params(&with_credentials));
    assert_eq!(answer["verdict"], "continue", "{answer}");
    assert_eq!(answer["uri"], "sip:bob@127.0.0.1", "lookup-guard retargets the number: {answer}");
    let remove: Vec<&str> = answer["remove"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(remove.contains(&"P-Asserted-Identity") && remove.contains(&"Proxy-Authorization"), "{answer}");
    assert_eq!(
        answer["add"],
        json!([{ "name": "P-Asserted-Identity", "value": "<sip:alice@127.0.0.1>" }]),
        "only the confirmed identity is asserted: {answer}"
    );
    assert_eq!(answer["append"], "P-Asserted-Identity: <sip:alice@127.0.0.1>\r\n");
    assert_eq!(answer["observe"], false, "no policy observes MESSAGE");
}

#[test]
fn malformed_calls_get_a_4xx_that_names_the_field() {
    let service = start();
    let good = params(&register("bad-1", 1, None));
    let mut unknown = good.clone();
    unknown["colour"] = json!("red");
    let mut not_sip = good.clone();
    not_sip["message"] = json!("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut oversized = good.clone();
    oversized["message"] = json!(format!("{}{}", register("bad-1", 1, None), "x".repeat(5000)));
    let mut port = good.clone();
    port["port"] = json!("five thousand");
    let mut response = good.clone();
    response["message"] = json!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
                                 To: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    let huge_body = format!("{{\"message\": \"{}\"}}", "x".repeat(200_000));
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("not JSON", "application/json", "{\"message\": ".into(), 400, "not JSON"),
        ("an unknown field", "application/json", unknown.to_string(), 400, "unknown field `colour`"),
        ("a port that is not a number", "application/json", port.to_string(), 400, "`port`: invalid type"),
        ("a body that is not SIP", "application/json", not_sip.to_string(), 422, "`message`: not a SIP message"),
        ("a response", "application/json", response.to_string(), 422, "`message`: a SIP response"),
        ("a message over max-message-bytes", "application/json", oversized.to_string(), 413, "at most 4096"),
        ("a body over the call limit", "application/json", huge_body, 413, "larger than"),
        ("not JSON by its type", "text/plain", good.to_string(), 415, "application/json"),
        (
            "no message",
            "application/json",
            json!({"transport": "udp", "source": "127.0.0.1", "port": 1}).to_string(),
            400,
            "`message` or `message-base64`",
        ),
    ];
    for (what, content_type, body, status, says) in cases {
        let (got, answer) = service.post("/decide", content_type, &body);
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{what}: {answer}");
        assert!(error.contains(says), "{what}: `{error}` does not say `{says}`");
        // Nothing crashed: the next good call is decided.
        assert_eq!(service.decide(&good)["verdict"], "respond", "after {what}");
    }
    let (status, answer) = service.post("/observe", "application/json", &json!({"reply": "nonsense"}).to_string());
    assert_eq!(status, 422, "{answer}");
    let url = format!("http://{}/decide", service.http);
    assert_eq!(Decision::agent().get(&url).call().unwrap().status().as_u16(), 405);
    let url = format!("http://{}/elsewhere", service.http);
    assert_eq!(Decision::agent().post(&url).send("{}").unwrap().status().as_u16(), 404);
    let metrics = service.metrics();
    assert!(metrics.contains("sipwarden_decisions_total{interface=\"http\",outcome=\"error\"} 9"), "{metrics}");
}

/// A JSON-RPC client as janssonrpcc is one: netstrings on one connection.
struct RpcClient {
    stream: BufReader<TcpStream>,
}

impl RpcClient {
    fn connect(addr: SocketAddr) -> RpcClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        RpcClient { stream: BufReader::new(stream) }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    fn send(&mut self, call: &Value) {
        let text = call.to_string();
        self.send_raw(format!("{}:{text},", text.len()).as_bytes());
    }

    /// The next netstring; `None` when the server closed the connection.
    fn receive(&mut self) -> Option<Value> {
        let mut length = Vec::new();
        if self.stream.read_until(b':', &mut length).unwrap() == 0 {
            return None;
        }
        let length: usize = std::str::from_utf8(&length[..length.len() - 1]).unwrap().trim().parse().unwrap();
        let mut payload = vec![0; length + 1];
        self.stream.read_exact(&mut payload).unwrap();
        assert_eq!(payload.pop(), Some(b','));
        Some(serde_json::from_slice(&payload).unwrap())
    }
}

#[test]
fn jsonrpc_calls_are_answered_by_id_and_malformed_ones_refused() {
    let service = start();
    let mut client = RpcClient::connect(service.jsonrpc);
    // Two calls in a row on one connection: each answered by its id.
    let call = |id: Value, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    client.send(&call(json!(7), "decide", params(&register("rpc-1", 1, None))));
    client.send(&call(json!("eight"), "decide", params("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-o\r\nFrom: <sip:a@127.0.0.1>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")));
    let mut answers = [client.receive().unwrap(), client.receive().unwrap()];
    answers.sort_by_key(|a| a["id"].is_string());
    assert_eq!(answers[0]["id"], json!(7));
    assert_eq!(answers[0]["result"]["status"], 401, "{:?}", answers[0]);
    assert_eq!(answers[1]["id"], json!("eight"));
    assert_eq!(answers[1]["result"]["verdict"], "continue", "{:?}", answers[1]);
    assert_eq!(answers[1]["jsonrpc"], "2.0");

    // A notification is never answered, even when it is refused.
    client.send(&json!({"jsonrpc": "2.0", "method": "observe", "params": {"reply": "nonsense"}}));
    let refusals = [
        (
            call(json!(1), "decide", json!({"message": "x", "transport": "udp", "source": "127.0.0.1"})),
            -32602,
            "missing field `port`",
        ),
        (
            call(
                json!(2),
                "decide",
                json!({"message": "nonsense", "transport": "udp", "source": "127.0.0.1", "port": 1}),
            ),
            -32602,
            "`message`: not a SIP message",
        ),
        (call(json!(3), "reboot", json!({})), -32601, "no method `reboot`"),
        (json!({"jsonrpc": "1.0", "id": 4, "method": "decide"}), -32600, "`jsonrpc`"),
        (json!([1, 2]), -32600, "batches"),
    ];
    for (request, code, says) in refusals {
        client.send(&request);
        let answer = client.receive().unwrap();
        assert_eq!(answer["error"]["code"], code, "{request} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{request}: `{message}` does not say `{says}`");
    }
    // Not JSON inside a good netstring: answered, the connection stays.
    client.send_raw(b"5:hello,");
    assert_eq!(client.receive().unwrap()["error"]["code"], -32700);
    client.send(&call(json!(9), "decide", params(&register("rpc-2", 1, None))));
    assert_eq!(client.receive().unwrap()["id"], 9);
    // A broken netstring: answered once, then the connection closes.
    client.send_raw(b"12x");
    assert_eq!(client.receive().unwrap()["error"]["code"], -32700);
    assert!(client.receive().is_none(), "closed after a framing error");

    // Others are served after all that.
    let mut other = RpcClient::connect(service.jsonrpc);
    other.send(&call(json!(10), "decide", params(&register("rpc-3", 1, None))));
    assert_eq!(other.receive().unwrap()["result"]["status"], 401);
    let metrics = service.metrics();
    assert!(metrics.contains("sipwarden_decision_connections{interface=\"jsonrpc\"} 1"), "{metrics}");
    assert!(metrics.contains("sipwarden_decision_connections_total{interface=\"jsonrpc\"} 2"), "{metrics}");
}

#[test]
fn a_client_that_disconnects_mid_decision_loses_only_that_answer() {
    let service = start();
    let mut client = RpcClient::connect(service.jsonrpc);
    client
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "decide", "params": params(&register("gone-1", 1, None))}));
    drop(client);
    // The decision completed all the same: its audit record is there.
    let recorded = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        service.audit().iter().any(|r| r["call-id"] == "gone-1")
    });
    assert!(recorded, "the abandoned decision completed");
    let mut again = RpcClient::connect(service.jsonrpc);
    again.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "decide", "params": params(&register("gone-2", 1, None))}));
    assert_eq!(again.receive().unwrap()["result"]["status"], 401);
}

#[test]
fn the_published_schema_names_every_field_the_service_reads_and_writes() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("docs/decision.schema.json")).unwrap()).unwrap();
    let defs = &schema["$defs"];
    let keys = |def: &str| -> Vec<String> {
        let mut keys: Vec<String> =
            defs[def]["properties"].as_object().unwrap_or_else(|| panic!("no $defs.{def}")).keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys("decide-params"), ["message", "message-base64", "port", "source", "tls-peer", "transport"]);
    assert_eq!(keys("tls-peer"), ["dns-names", "subject", "uris"]);
    assert_eq!(keys("observe-params"), ["reason", "reply", "reply-base64", "request", "request-base64", "status"]);
    assert_eq!(keys("continue"), ["add", "append", "observe", "remove", "uri", "verdict"]);
    assert_eq!(keys("respond"), ["by", "failure", "headers", "reason", "reply-headers", "status", "verdict"]);
    assert_eq!(keys("observed"), ["matched"]);

    // And what the service answers has those fields, no others.
    let service = start();
    let respond = service.decide(&params(&register("schema-1", 1, None)));
    let mut got: Vec<String> = respond.as_object().unwrap().keys().cloned().collect();
    got.sort();
    assert_eq!(got, keys("respond"));
    let options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-s\r\n\
                   From: <sip:a@127.0.0.1>;tag=s\r\nTo: <sip:127.0.0.1>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\n\
                   Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let continued = service.decide(&params(options));
    let mut got: Vec<String> = continued.as_object().unwrap().keys().cloned().collect();
    got.push("uri".into());
    got.sort();
    assert_eq!(got, keys("continue"), "every field but the optional uri: {continued}");
}
