//! What each bundled security policy adds to a request, and the whole
//! bundled chain, on the requests they are for. Run with
//! `cargo bench -p sipwarden --bench policies` after `plugins/build`.
//! Figures go to docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sipwarden::config::Config;
use sipwarden::policy::{Chain, Engine, EngineOptions, Manifest};
use sipwarden::sip;
use sipwarden::transport::{Origin, TlsPeer, Transport};

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/bundle")
}

/// The bundled plugin with its bundled manifest, `tweak`ed.
fn plugin(engine: &Engine, name: &str, tweak: impl Fn(String) -> String) -> Arc<sipwarden::policy::Plugin> {
    let wasm = bundle().join(format!("{name}.wasm"));
    assert!(wasm.exists(), "{} is missing: run plugins/build first", wasm.display());
    let text = std::fs::read_to_string(bundle().join(format!("{name}.toml"))).unwrap();
    let manifest = Manifest::parse(&tweak(text), Path::new(name)).unwrap();
    Arc::new(engine.load_file_with(&wasm, manifest).unwrap())
}

fn request(text: &str) -> sip::Request {
    match sip::parse(text.replace('\n', "\r\n").as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// A MESSAGE from the SIP/IP core over TLS, its sender asserted.
const MESSAGE: &str = "MESSAGE sip:bob@127.0.0.1 SIP/2.0
Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776sgdkse
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=49583
To: <sip:bob@127.0.0.1>
Call-ID: asd88asd77a@192.0.2.1
CSeq: 1 MESSAGE
P-Asserted-Identity: <sip:alice@127.0.0.1>
User-Agent: Phone/1.0
Accept-Contact: *;+g.oma.sip-im
Content-Type: text/plain
Content-Length: 10

Hello, Bob";

/// The same to a telephone number: looked up and retargeted (SEC-2).
fn message_to_number() -> sip::Request {
    let mut r = request(MESSAGE);
    r.uri = "tel:+1-555-765-4321".into();
    r
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::parse(
        &format!(
            "[directory]\nfile = \"{}\"\n[credentials]\nfile = \"{}\"\n",
            root.join("plugins/bundle/stores/directory.toml").display(),
            root.join("plugins/bundle/stores/credentials.toml").display()
        ),
        Path::new("bench.toml"),
    )
    .unwrap();
    let (capabilities, _audit) = config.capabilities_for_eval().unwrap();
    let engine = Engine::new(&EngineOptions::default(), capabilities).unwrap();
    let core = Origin {
        transport: Transport::Tls,
        source: "192.0.2.1:5061".parse().unwrap(),
        tls_peer: Some(TlsPeer {
            subject: "CN=core.example.net".into(),
            dns_names: vec!["core.example.net".into()],
            uris: vec![],
        }),
    };
    let trust_core = |t: String| t.replace("trusted-names = []", "trusted-names = [\"core.example.net\"]");

    let identity = plugin(&engine, "identity", trust_core);
    let bundled = [
        plugin(&engine, "audit", |t| t),
        plugin(&engine, "secure-transport", |t| t),
        identity.clone(),
        plugin(&engine, "lookup-guard", |t| t),
    ];
    let mut cases: Vec<(String, Chain, sip::Request)> = vec![
        (
            "secure-transport (MESSAGE over TLS)",
            Chain::new(vec![plugin(&engine, "secure-transport", |t| t)]),
            request(MESSAGE),
        ),
        ("identity (asserted by a trusted core)", Chain::new(vec![identity.clone()]), request(MESSAGE)),
        ("lookup-guard (not a number)", Chain::new(vec![plugin(&engine, "lookup-guard", |t| t)]), request(MESSAGE)),
        (
            "lookup-guard (number looked up, retargeted)",
            Chain::new(vec![plugin(&engine, "lookup-guard", |t| t)]),
            message_to_number(),
        ),
        ("audit (MESSAGE: not its method)", Chain::new(vec![plugin(&engine, "audit", |t| t)]), request(MESSAGE)),
        ("bundled chain (to a number)", Chain::new(bundled.to_vec()), message_to_number()),
    ]
    .into_iter()
    .map(|(name, chain, req)| (name.to_string(), chain, req))
    .collect();
    // What each plugin adds to a request in the bundled chain: the chain
    // above less the chain without it.
    for left_out in 0..bundled.len() {
        let mut chain = bundled.to_vec();
        let plugin = chain.remove(left_out);
        cases.push((
            format!("bundled chain without {} (to a number)", plugin.name()),
            Chain::new(chain),
            message_to_number(),
        ));
    }
    for (name, chain, req) in cases {
        common::bench_decide(c, &name, &chain, &req, &core);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
