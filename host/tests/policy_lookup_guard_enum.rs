//! lookup-guard (OMA IM SEC-2) against an ENUM directory: a real DNS server
//! (dnsmasq on loopback) answers the look-ups the plugin makes.

mod common;
#[path = "common/dnsmasq.rs"]
mod dnsmasq;

use dnsmasq::Dnsmasq;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwarden::config::Config;
use sipwarden::policy::{Chain, Decision, Edit, Engine, EngineOptions, Manifest, StepResult};
use sipwarden::sip;

const ALICE: &str = "7.6.5.4.3.2.1.5.5.5.1.e164.arpa,100,10,u,E2U+sip,!^.*$!sip:alice@example.com!";
const SHARED_1: &str = "1.1.1.1.0.0.0.5.5.5.1.e164.arpa,100,10,u,E2U+sip,!^.*$!sip:alice@example.com!";
const SHARED_2: &str = "1.1.1.1.0.0.0.5.5.5.1.e164.arpa,100,20,u,E2U+sip,!^.*$!sip:bob@example.com!";

/// The bundled lookup-guard with an ENUM directory asking `server`.
fn chain(server: SocketAddr) -> Chain {
    let text = format!("[directory]\nenum = {{ servers = [\"{server}\"], timeout-ms = 500 }}\n");
    let capabilities = Config::parse(&text, Path::new("sipwarden.toml")).unwrap().capabilities().unwrap();
    let options = EngineOptions { pool_slots: Some(64), ..EngineOptions::default() };
    let engine = Engine::new(&options, capabilities).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/bundle/lookup-guard.toml");
    let manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let plugin = engine.load_file_with(&common::wasm("lookup-guard"), manifest).unwrap();
    Chain::new(vec![Arc::new(plugin)])
}

fn presence(uri: &str) -> sip::Request {
    let text = format!(
        "SUBSCRIBE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:carol@example.com>;tag=49583\r\n\
         To: <{uri}>\r\n\
         Call-ID: lookup-guard-enum@192.0.2.10\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Event: presence\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn answer(chain: &Chain, uri: &str) -> (u16, String) {
    match chain.decide(presence(uri), common::origin()).decision {
        Decision::Respond { reply, .. } => (reply.status, reply.reason),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn enum_answers_drive_the_unique_look_up() {
    let dns = Dnsmasq::start(&[ALICE, SHARED_1, SHARED_2]);
    let chain = chain(dns.address);

    let outcome = chain.decide(presence("tel:+1-555-123-4567"), common::origin());
    assert_eq!(outcome.decision, Decision::Forward);
    assert_eq!(
        outcome.steps[0].result,
        StepResult::Continue { edits: vec![Edit::SetRequestUri { uri: "sip:alice@example.com".into() }] }
    );
    assert_eq!(answer(&chain, "tel:+1-555-000-1111"), (485, "Ambiguous".into()));
    assert_eq!(answer(&chain, "tel:+1-555-999-9999"), (404, "Number Not Found".into()));
}

#[test]
fn a_silent_enum_server_gets_the_failure_policy_in_time() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let chain = chain(silent.local_addr().unwrap());
    let started = Instant::now();
    let outcome = chain.decide(presence("tel:+1-555-123-4567"), common::origin());
    let elapsed = started.elapsed();
    match &outcome.decision {
        Decision::Respond { reply, failure: true, .. } => {
            assert_eq!((reply.status, reply.reason.as_str()), (503, "Directory Unavailable"));
        }
        other => panic!("expected the fail-closed answer, got {other:?}"),
    }
    match &outcome.steps[0].result {
        StepResult::Failed { kind, error, .. } => {
            assert_eq!(*kind, "declined", "{error}");
            assert!(error.contains("within 500 ms"), "{error}");
        }
        other => panic!("expected a declined step, got {other:?}"),
    }
    assert!(elapsed < Duration::from_millis(1000), "took {elapsed:?}");
}
