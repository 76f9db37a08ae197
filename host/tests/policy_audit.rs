//! The `audit` policy (SEC-1): one audit record per registration attempt,
//! with its outcome and without credential material.

mod common;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use sipwarden::capability::{AuditRecorder, Capabilities};
use sipwarden::policy::{Chain, Decision, Engine, EngineOptions, Manifest, StepResult};
use sipwarden::sip;
use sipwarden::transport::{Origin, TlsPeer, Transport};

fn bundle_manifest(name: &str) -> Manifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/bundle").join(format!("{name}.toml"));
    Manifest::load(&path).unwrap()
}

/// The audit plugin with the bundled manifest.
fn audit_chain(engine: &Engine) -> Chain {
    let plugin = engine.load_file_with(&common::wasm("audit"), bundle_manifest("audit")).unwrap();
    Chain::new(vec![Arc::new(plugin)])
}

fn register(extra: &str) -> sip::Request {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: \"Alice\" <sip:alice@example.com>\r\n\
         Call-ID: reg-1@192.0.2.10\r\n\
         CSeq: 2 REGISTER\r\n\
         Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
         Contact: <sip:alice@198.51.100.4:5060>\r\n\
         Expires: 3600\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("sample REGISTER did not parse: {other:?}"),
    }
}

/// Run the chain on a REGISTER and show the plugins that let it through the
/// final response `status`; return the decision.
fn attempt(chain: &Chain, request: sip::Request, origin: Origin, status: u16, reason: &str) -> Decision {
    let outcome = chain.decide(request, origin);
    let response = sip::Response::to_request(&outcome.request, status, reason);
    Chain::observe(&outcome.observers, outcome.request, outcome.origin, response);
    outcome.decision
}

const DIGEST: &str = "Authorization: Digest username=\"alice\", realm=\"example.com\", \
     nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:example.com\", \
     response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n";

#[test]
fn registration_accepted_is_recorded_once_with_every_field() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    let decision = attempt(&chain, register(""), common::origin(), 200, "OK");
    assert_eq!(decision, Decision::Forward);

    let records = recorder.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0],
        json!({
            "plugin": "audit",
            "event": "register",
            "aor": "sip:alice@example.com",
            "contacts": "<sip:alice@192.0.2.10:5060;transport=udp>;expires=3600, <sip:alice@198.51.100.4:5060>",
            "expires": 3600,
            "source": "192.0.2.10",
            "port": 5060,
            "transport": "udp",
            "tls-peer": null,
            "authenticated": "none",
            "status": 200,
            "reason": "OK",
            "call-id": "reg-1@192.0.2.10",
            "cseq": "2 REGISTER",
        })
    );
}

#[test]
fn challenged_registration_is_recorded_unauthenticated() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    attempt(&chain, register(""), common::origin(), 401, "Unauthorized");

    let records = recorder.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["authenticated"], "none");
    assert_eq!(records[0]["status"], 401);
    assert_eq!(records[0]["reason"], "Unauthorized");
    assert!(records[0].get("username").is_none());
}

#[test]
fn digest_registration_records_the_username_and_no_credential_material() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    let origin = Origin {
        transport: Transport::Tls,
        source: "192.0.2.10:49152".parse().unwrap(),
        tls_peer: Some(TlsPeer { subject: "CN=alice-phone".into(), ..TlsPeer::default() }),
    };
    attempt(&chain, register(DIGEST), origin, 200, "OK");

    let records = recorder.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["authenticated"], "digest");
    assert_eq!(record["username"], "alice");
    assert_eq!(
        (&record["transport"], &record["port"], &record["tls-peer"]),
        (&json!("tls"), &json!(49152), &json!("CN=alice-phone"))
    );
    let text = record.to_string();
    for secret in
        ["dcd98b7102dd2f0e8b11d0f600bfb0c093", "6629fae49393a05397450978507c4ef1", "0a4f113b", "nonce", "response"]
    {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[test]
fn digest_credentials_refused_are_not_digest_authenticated() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    attempt(&chain, register(DIGEST), common::origin(), 403, "Forbidden");

    let record = &recorder.records()[0];
    assert_eq!((&record["authenticated"], &record["status"]), (&json!("none"), &json!(403)));
    assert!(record.get("username").is_none(), "{record}");
}

#[test]
fn asserted_identity_left_by_the_chain_is_recorded() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    attempt(
        &chain,
        register("P-Asserted-Identity: \"Alice\" <sip:alice@example.com>\r\n"),
        common::origin(),
        200,
        "OK",
    );

    let record = &recorder.records()[0];
    assert_eq!(record["authenticated"], "asserted");
    assert_eq!(record["asserted-identity"], "sip:alice@example.com");
}

#[test]
fn remove_all_and_uri_passwords() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let chain = audit_chain(&engine);
    let text = "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg2\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:alice:hunter2@example.com>\r\n\
         Call-ID: reg-2@192.0.2.10\r\n\
         CSeq: 3 REGISTER\r\n\
         Contact: *\r\n\
         Expires: 0\r\n\
         Content-Length: 0\r\n\r\n";
    let Ok(sip::Message::Request(request)) = sip::parse(text.as_bytes()) else { panic!("did not parse") };
    attempt(&chain, request, common::origin(), 200, "OK");

    let record = &recorder.records()[0];
    assert_eq!(record["contacts"], "*");
    assert_eq!(record["expires"], 0);
    assert_eq!(record["aor"], "sip:alice@example.com");
    assert!(!record.to_string().contains("hunter2"), "{record}");
}

#[test]
fn other_methods_are_not_recorded_unless_configured() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    // Manifest sees MESSAGE, but the configuration records REGISTER only.
    let manifest = Manifest::parse(
        "methods = [\"REGISTER\", \"MESSAGE\"]\nresponses = true\ncapabilities = [\"log\", \"audit\"]\n",
        Path::new("audit.toml"),
    )
    .unwrap();
    let plugin = engine.load_file_with(&common::wasm("audit"), manifest).unwrap();
    let chain = Chain::new(vec![Arc::new(plugin)]);
    attempt(&chain, common::request(""), common::origin(), 200, "OK");
    assert!(recorder.records().is_empty());

    let manifest = Manifest::parse(
        "methods = [\"REGISTER\", \"MESSAGE\"]\nresponses = true\ncapabilities = [\"log\", \"audit\"]\n\
         [config]\nmethods = [\"REGISTER\", \"MESSAGE\"]\ninclude-contacts = false\n",
        Path::new("audit.toml"),
    )
    .unwrap();
    let plugin = engine.load_file_with(&common::wasm("audit"), manifest).unwrap();
    let chain = Chain::new(vec![Arc::new(plugin)]);
    attempt(&chain, common::request(""), common::origin(), 202, "Accepted");
    let records = recorder.records();
    assert_eq!(records.len(), 1);
    assert_eq!((&records[0]["event"], &records[0]["status"]), (&json!("message"), &json!(202)));
    assert!(records[0].get("contacts").is_none());
}

#[test]
fn bad_configuration_is_refused() {
    let engine = common::engine_recording_audit(&Arc::new(AuditRecorder::default()));
    for (config, expected) in [
        ("methods = []", "methods is empty"),
        ("methods = [\"REG ISTER\"]", "`REG ISTER` is not a SIP method name"),
        ("include-contact = true", "unknown field `include-contact`"),
    ] {
        let text = format!("responses = true\ncapabilities = [\"log\", \"audit\"]\n[config]\n{config}\n");
        let manifest = Manifest::parse(&text, Path::new("audit.toml")).unwrap();
        let err = engine.load_file_with(&common::wasm("audit"), manifest).expect_err("must be refused");
        assert!(err.to_string().contains(expected), "{config}: {err}");
    }
}

#[test]
fn a_failing_audit_trail_does_not_stop_the_request() {
    let engine = Engine::new(
        &EngineOptions { pool_slots: Some(64), ..EngineOptions::default() },
        Capabilities::inert().unwrap(),
    )
    .unwrap();
    let chain = audit_chain(&engine);
    let decision = attempt(&chain, register(DIGEST), common::origin(), 200, "OK");
    assert_eq!(decision, Decision::Forward);
    // The failed append is logged, not a fault: the plugin's next call is served.
    let stats = chain.plugins()[0].stats();
    assert_eq!((stats.observed, stats.traps, stats.starts_failed), (1, 0, 0), "{stats:?}");
    let outcome = chain.decide(register(""), common::origin());
    assert_eq!(outcome.decision, Decision::Forward);
    assert!(matches!(&outcome.steps[0].result, StepResult::Continue { edits } if edits.is_empty()));
}

/// Audit runs first, so an attempt a later policy refuses is still recorded
/// with the refusal.
#[test]
fn an_attempt_refused_later_in_the_chain_is_recorded() {
    let recorder = Arc::new(AuditRecorder::default());
    let engine = common::engine_recording_audit(&recorder);
    let audit = engine.load_file_with(&common::wasm("audit"), bundle_manifest("audit")).unwrap();
    let transport =
        engine.load_file_with(&common::wasm("secure-transport"), bundle_manifest("secure-transport")).unwrap();
    let chain = Chain::new(vec![Arc::new(transport), Arc::new(audit)]);
    assert_eq!(chain.plugins()[0].name(), "audit");

    let outcome = chain.decide(register(""), common::origin());
    let Decision::Respond { reply, by, .. } = &outcome.decision else { panic!("{:?}", outcome.decision) };
    assert_eq!((reply.status, reply.reason.as_str(), &**by), (403, "TLS Required", "secure_transport"));
    let response = sip::Response::to_request(&outcome.request, reply.status, &reply.reason);
    Chain::observe(&outcome.observers, outcome.request, outcome.origin, response);

    let records = recorder.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((&records[0]["status"], &records[0]["reason"]), (&json!(403), &json!("TLS Required")));
}
