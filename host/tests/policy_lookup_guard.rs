//! lookup-guard (OMA IM SEC-2): a number reaches a user only through a
//! unique look-up in the host's directory, for contacts and sessions alike.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sipwarden::capability::Capabilities;
use sipwarden::config::Config;
use sipwarden::policy::{Chain, Decision, Edit, Engine, EngineOptions, Manifest, StepResult};
use sipwarden::sip;

const NUMBERS: &str = r#"
[numbers]
"+1 555 123 4567" = ["sip:alice@example.com"]
"+1 555 000 1111" = ["sip:alice@example.com", "sip:bob@example.com"]
"+1 555 000 2222" = ["tel:+15550002222", "sip:carol@example.com", "sip:carol@example.com"]
"#;

/// The bundled manifest, as operators get it.
fn bundle_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/bundle/lookup-guard.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn chain_with(capabilities: Capabilities, manifest: &str) -> Chain {
    let options = EngineOptions { pool_slots: Some(64), ..EngineOptions::default() };
    let engine = Engine::new(&options, capabilities).unwrap();
    let manifest = Manifest::parse(manifest, Path::new("lookup-guard.toml")).unwrap();
    let plugin = engine.load_file_with(&common::wasm("lookup-guard"), manifest).unwrap();
    Chain::new(vec![Arc::new(plugin)])
}

/// The bundled plugin with a `[directory] file` of [`NUMBERS`]; the temp
/// dir must outlive the chain's first use only (the file is read at load).
fn chain() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let numbers: PathBuf = dir.path().join("directory.toml");
    std::fs::write(&numbers, NUMBERS).unwrap();
    let config_path = dir.path().join("sipwarden.toml");
    let text = format!("[directory]\nfile = {:?}\n", numbers.display().to_string());
    let capabilities = Config::parse(&text, &config_path).unwrap().capabilities().unwrap();
    chain_with(capabilities, &bundle_manifest())
}

/// An out-of-dialog request of `method` to `uri`, with extra header lines.
fn request(method: &str, uri: &str, extra: &str) -> sip::Request {
    let text = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=49583\r\n\
         To: <{uri}>\r\n\
         Call-ID: lookup-guard@192.0.2.10\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{method} {uri} did not parse as a request: {other:?}"),
    }
}

fn presence(uri: &str) -> sip::Request {
    request("SUBSCRIBE", uri, "Event: presence\r\nExpires: 3600\r\n")
}

/// The chain let the request through with exactly these edits.
fn assert_retargeted(chain: &Chain, req: sip::Request, to: &str) {
    let outcome = chain.decide(req, common::origin());
    assert_eq!(outcome.decision, Decision::Forward, "{:?}", outcome.steps);
    assert_eq!(outcome.steps[0].result, StepResult::Continue { edits: vec![Edit::SetRequestUri { uri: to.into() }] });
    assert_eq!(outcome.request.uri, to);
}

/// The chain answered with this status and reason, from a verdict (not a
/// failure policy).
fn assert_answered(chain: &Chain, req: sip::Request, status: u16, reason: &str) {
    match chain.decide(req, common::origin()).decision {
        Decision::Respond { reply, failure: false, .. } => {
            assert_eq!((reply.status, reply.reason.as_str()), (status, reason));
            assert!(reply.headers.is_empty(), "no candidate list may leak: {:?}", reply.headers);
        }
        other => panic!("expected {status} {reason}, got {other:?}"),
    }
}

fn assert_untouched(chain: &Chain, req: sip::Request) {
    let uri = req.uri.clone();
    let outcome = chain.decide(req, common::origin());
    assert_eq!(outcome.decision, Decision::Forward);
    assert_eq!(outcome.steps[0].result, StepResult::Continue { edits: vec![] });
    assert_eq!(outcome.request.uri, uri);
}

#[test]
fn presence_subscribe_to_a_number_with_one_user_is_retargeted() {
    let chain = chain();
    assert_retargeted(&chain, presence("tel:+1-555-123-4567"), "sip:alice@example.com");
    // A local number completed by its global phone-context is the same number.
    assert_retargeted(&chain, presence("tel:123-4567;phone-context=+1-555"), "sip:alice@example.com");
}

#[test]
fn presence_subscribe_to_an_unknown_number_is_not_found() {
    let chain = chain();
    assert_answered(&chain, presence("tel:+1-555-999-9999"), 404, "Number Not Found");
}

#[test]
fn presence_subscribe_to_a_shared_number_is_ambiguous() {
    let chain = chain();
    assert_answered(&chain, presence("tel:+1-555-000-1111"), 485, "Ambiguous");
    // A tel: alias is not a User ID and one user listed twice is one user:
    // the look-up is unique.
    assert_retargeted(&chain, presence("tel:+1-555-000-2222"), "sip:carol@example.com");
}

#[test]
fn message_to_a_phone_number_is_looked_up_by_the_network() {
    let chain = chain();
    let message = request("MESSAGE", "sip:+15551234567@example.com;user=phone", "");
    assert_retargeted(&chain, message, "sip:alice@example.com");
    // A global number as the user part is a number even without user=phone;
    // sips: keeps asking for TLS after the retarget.
    let invite = request("INVITE", "sips:+1-555-123-4567@example.com", "");
    assert_retargeted(&chain, invite, "sips:alice@example.com");
    // A session must reach one user, so a shared number is refused too.
    let shared = request("MESSAGE", "sip:+15550001111@example.com;user=phone", "");
    assert_answered(&chain, shared, 485, "Ambiguous");
    assert_answered(&chain, request("INVITE", "tel:+15559999999", ""), 404, "Number Not Found");
}

#[test]
fn malformed_number_is_address_incomplete() {
    let chain = chain();
    assert_answered(
        &chain,
        presence("tel:+1-555-abc"),
        484,
        "Address Incomplete: the number contains 'a', which is neither a digit nor a visual separator",
    );
    assert_answered(
        &chain,
        request("MESSAGE", "tel:555-1234", ""),
        484,
        "Address Incomplete: the number has no leading '+' and no global phone-context",
    );
}

#[test]
fn requests_not_addressed_to_a_number_pass_untouched() {
    let chain = chain();
    assert_untouched(&chain, presence("sip:bob@example.com"));
    assert_untouched(&chain, request("MESSAGE", "sip:bob@example.com", ""));
    // Not a contact addition nor a session: not guarded.
    assert_untouched(&chain, request("OPTIONS", "tel:+1-555-123-4567", ""));
    assert_untouched(&chain, request("SUBSCRIBE", "tel:+1-555-123-4567", "Event: message-summary\r\n"));
    // Inside a dialog the Request-URI is the remote target: never retargeted.
    let mut refresh = request("SUBSCRIBE", "sip:+15551234567@192.0.2.20", "Event: presence\r\n");
    refresh.headers.set("To", "<sip:+15551234567@example.com;user=phone>;tag=8321234356").unwrap();
    assert_untouched(&chain, refresh);
}

#[test]
fn configured_contact_methods_are_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("directory.toml");
    std::fs::write(&numbers, NUMBERS).unwrap();
    let text = format!("[directory]\nfile = {:?}\n", numbers.display().to_string());
    let capabilities = Config::parse(&text, &dir.path().join("sipwarden.toml")).unwrap().capabilities().unwrap();
    let manifest = "capabilities = [\"log\", \"directory\"]\n[config]\ncontact-methods = [\"PUBLISH\"]\n";
    let chain = chain_with(capabilities, manifest);
    assert_answered(&chain, request("PUBLISH", "tel:+1-555-999-9999", ""), 404, "Number Not Found");
    assert_retargeted(&chain, request("PUBLISH", "tel:+1-555-123-4567", ""), "sip:alice@example.com");
}

/// Without a directory the plugin cannot decide: the host applies the
/// manifest's failure policy, and nothing hangs.
#[test]
fn without_a_directory_the_failure_policy_answers() {
    let cases = [
        ("capabilities = [\"log\", \"directory\"]\n".to_string(), 500, "Policy Failure"),
        ("capabilities = [\"log\", \"directory\"]\n[failure]\nstatus = 503\n".to_string(), 503, "Policy Failure"),
        (bundle_manifest(), 503, "Directory Unavailable"),
    ];
    for (manifest, status, reason) in cases {
        let chain = chain_with(Capabilities::inert().unwrap(), &manifest);
        let outcome = chain.decide(presence("tel:+1-555-123-4567"), common::origin());
        match &outcome.decision {
            Decision::Respond { reply, failure: true, .. } => {
                assert_eq!((reply.status, reply.reason.as_str()), (status, reason));
            }
            other => panic!("expected the fail-closed answer, got {other:?}"),
        }
        match &outcome.steps[0].result {
            StepResult::Failed { kind, error, .. } => {
                assert_eq!(*kind, "declined");
                assert_eq!(error, "could not decide: directory unavailable: no directory is configured on this host");
            }
            other => panic!("expected a declined step, got {other:?}"),
        }
        // Requests that need no look-up are still served.
        assert_untouched(&chain, presence("sip:bob@example.com"));
    }
}

/// What the host's log shows of lookup-guard's decisions, under `filter`.
fn logged(filter: &str, chain: &Chain, req: sip::Request) -> String {
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // tracing caches each callsite's interest globally, and a callsite
        // that another test's thread registers while this subscriber is
        // being set up can be left cached as "never" for it. Decide once so
        // that every callsite of a decision is registered, rebuild the
        // cache, then capture what a decision logs.
        drop(chain.decide(req.clone(), common::origin()));
        tracing::callsite::rebuild_interest_cache();
        captured.0.lock().unwrap().clear();
        drop(chain.decide(req, common::origin()));
    });
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

/// A plugin's own debug lines reach the log only when the operator's
/// filter keeps them (the plugin asks `log.enabled` before formatting), and
/// the host logs every plugin's edits and answers at debug level.
#[test]
fn decisions_are_logged_at_the_levels_the_filter_keeps() {
    let chain = chain();
    let refusal = logged("sipwarden::plugin=debug", &chain, presence("tel:+1-555-999-9999"));
    assert!(refusal.contains("contact to +15559999999: no user has this number"), "{refusal}");
    // Tagged with the plugin's name (here the file's: `lookup_guard.wasm`).
    assert!(refusal.contains("plugin=\"lookup_guard\""), "{refusal}");
    let quiet = logged("sipwarden::plugin=info", &chain, presence("tel:+1-555-999-9999"));
    assert!(!quiet.contains("no user has this number"), "{quiet}");

    let retarget = logged("sipwarden::policy=debug", &chain, presence("tel:+1-555-123-4567"));
    assert!(retarget.contains("continue with edits"), "{retarget}");
    assert!(retarget.contains("sip:alice@example.com"), "{retarget}");
    let answer = logged("sipwarden::policy=debug", &chain, presence("tel:+1-555-000-1111"));
    assert!(answer.contains("respond") && answer.contains("status=485"), "{answer}");
}
