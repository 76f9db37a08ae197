//! Shared by the host's integration tests: where the plugins built for
//! wasm32-wasip2 are, and sample messages.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use sipwarden::capability::{AuditRecorder, Capabilities, CredentialStore, DigestAuthority};
use sipwarden::policy::{Engine, EngineOptions};
use sipwarden::sip;
use sipwarden::transport::{Origin, Transport};

/// The directory `tests/run` builds the plugins into.
pub fn wasm_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("wasm32-wasip2/plugin")
}

/// A plugin component built by `tests/run`; a missing one fails the test
/// with the command that builds it.
pub fn wasm(crate_name: &str) -> PathBuf {
    let path = wasm_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `tests/run` (or `cargo build --profile plugin --target wasm32-wasip2 -p {crate_name}`)",
        path.display()
    );
    path
}

/// A MESSAGE as a phone would send it, plus any extra header lines.
pub fn message(extra: &str) -> Vec<u8> {
    let body = "Hello, Bob";
    format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=49583\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: asd88asd77a@192.0.2.10\r\n\
         CSeq: 1 MESSAGE\r\n\
         User-Agent: Phone/1.0\r\n\
         {extra}\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn request(extra: &str) -> sip::Request {
    match sip::parse(&message(extra)) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("sample message did not parse as a request: {other:?}"),
    }
}

pub fn origin() -> Origin {
    Origin { transport: Transport::Udp, source: "192.0.2.10:5060".parse().unwrap(), tls_peer: None }
}

/// An engine whose audit trail is kept in `recorder`, with no directory and
/// no credentials.
pub fn engine_recording_audit(recorder: &Arc<AuditRecorder>) -> Engine {
    let capabilities = Capabilities::new(
        recorder.clone(),
        Capabilities::no_directory(),
        CredentialStore::default(),
        DigestAuthority::random().unwrap(),
    );
    Engine::new(&EngineOptions { pool_slots: Some(64), ..EngineOptions::default() }, capabilities).unwrap()
}
