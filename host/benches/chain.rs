//! The cost of deciding a request: one plugin, and a chain of four, on a
//! realistic MESSAGE. Each plugin reads two headers (`User-Agent`, `From`)
//! and lets the request through, as a screening policy does for ordinary
//! traffic; the second pair of figures has each plugin add a header too.
//!
//! Run with `cargo bench -p sipwarden --bench chain` after building the
//! plugins (`tests/run` does). Figures go to docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sipwarden::capability::Capabilities;
use sipwarden::policy::{Chain, Engine, EngineOptions, Manifest};
use sipwarden::sip;
use sipwarden::transport::{Origin, Transport};

mod common;

// The same allocator as the binary, so the figures are the proxy's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn wasm(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/plugin").join(name);
    assert!(path.exists(), "{} is missing: run tests/run first", path.display());
    path
}

/// `n` copies of the example policy; with `mark`, each also adds a header.
fn chain(engine: &Engine, n: usize, mark: bool) -> Chain {
    let config = if mark { "[config]\nmark = \"X-Screened-By\"\n" } else { "" };
    let plugins = (0..n)
        .map(|i| {
            let manifest = Manifest::parse(&format!("order = {i}\n{config}"), Path::new("bench.toml")).unwrap();
            let bytes = std::fs::read(wasm("block_scanners.wasm")).unwrap();
            Arc::new(engine.load(&format!("policy-{i}"), &bytes, None, manifest).unwrap())
        })
        .collect();
    Chain::new(plugins)
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(&EngineOptions::default(), Capabilities::inert().unwrap()).unwrap();
    let request = match sip::parse(common::MESSAGE.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{other:?}"),
    };
    let origin = Origin { transport: Transport::Udp, source: "192.0.2.10:5060".parse().unwrap(), tls_peer: None };

    for (n, mark) in [(1, false), (4, false), (1, true), (4, true)] {
        let chain = chain(&engine, n, mark);
        let name = if mark { format!("chain of {n}, each adding a header") } else { format!("chain of {n}") };
        common::bench_decide(c, &name, &chain, &request, &origin);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
