//! A Python policy against its Rust twin: the same decision timed through
//! each, and what starting a fresh instance costs in each language. Run
//! with `cargo bench -p sipwarden --bench python` after `plugins/build`
//! (which builds the Python examples with componentize-py). Figures go to
//! docs/BENCHMARKS.md, as ratios to the Rust twin.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sipwarden::capability::Capabilities;
use sipwarden::policy::{Chain, Decision, Engine, EngineOptions, Manifest, Plugin};
use sipwarden::sip;
use sipwarden::transport::{Origin, Transport};

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// A plugin built into `target/wasm32-wasip2/plugin/` with its shipped manifest.
fn plugin(engine: &Engine, crate_file: &str, manifest: &str) -> Arc<Plugin> {
    let wasm = repo("target/wasm32-wasip2/plugin").join(format!("{crate_file}.wasm"));
    assert!(wasm.exists(), "{} is missing: run plugins/build first", wasm.display());
    let manifest = Manifest::load(&repo(manifest)).unwrap();
    Arc::new(engine.load_file_with(&wasm, manifest).unwrap())
}

fn request(extra: &str) -> sip::Request {
    let text = common::MESSAGE.replace("User-Agent: Phone/1.0\r\n", extra);
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// Time one decision, whatever it is (a refusal included), after checking
/// that both twins reach the same one.
fn bench_pair(c: &mut Criterion, case: &str, twins: [(&str, &Chain); 2], request: &sip::Request, origin: &Origin) {
    // What was decided, whoever decided it (the twins' names differ).
    let decide = |chain: &Chain| match chain.decide(request.clone(), origin.clone()).decision {
        Decision::Forward => "forward".to_string(),
        Decision::Respond { reply, failure, .. } => format!("{} {} {failure}", reply.status, reply.reason),
    };
    assert_eq!(decide(twins[0].1), decide(twins[1].1), "{case}: the twins disagree");
    for (language, chain) in twins {
        common::bench_decision(c, &format!("{case} / {language}"), chain, request, origin);
    }
}

fn bench(c: &mut Criterion) {
    // Every plugin keeps up to 32 idle instances, and timing starts fills
    // all four pools: the default pool, not a small one.
    let options = EngineOptions::default();
    let engine = Engine::new(&options, Capabilities::inert().unwrap()).unwrap();
    let chain = |p: &Arc<Plugin>| Chain::new(vec![p.clone()]);

    let scanners_rust = plugin(&engine, "block_scanners", "examples/plugins/block-scanners/block-scanners.toml");
    let scanners_python =
        plugin(&engine, "block_scanners_py", "examples/plugins/block-scanners-py/block-scanners-py.toml");
    let transport_rust = plugin(&engine, "secure_transport", "plugins/bundle/secure-transport.toml");
    let transport_python =
        plugin(&engine, "secure_transport_py", "examples/plugins/secure-transport-py/secure-transport-py.toml");

    let phone = Origin { transport: Transport::Udp, source: "192.0.2.10:5060".parse().unwrap(), tls_peer: None };
    let over_tls = Origin { transport: Transport::Tls, source: "198.51.100.7:5061".parse().unwrap(), tls_peer: None };
    let over_udp = Origin { transport: Transport::Udp, source: "198.51.100.7:5060".parse().unwrap(), tls_peer: None };
    let (scanners, transport) = (
        [("rust", &chain(&scanners_rust)), ("python", &chain(&scanners_python))],
        [("rust", &chain(&transport_rust)), ("python", &chain(&transport_python))],
    );
    bench_pair(c, "block-scanners: a phone, marked", scanners, &request("User-Agent: Phone/1.0\r\n"), &phone);
    bench_pair(c, "block-scanners: a scanner, refused", scanners, &request("User-Agent: friendly-scanner\r\n"), &phone);
    bench_pair(c, "secure-transport: MESSAGE over TLS", transport, &request(""), &over_tls);
    bench_pair(c, "secure-transport: MESSAGE over UDP, refused", transport, &request(""), &over_udp);

    // A fresh instance: what a request pays when every instance is busy or
    // one trapped (instantiation from the pre-instantiated component, `init`).
    let mut group = c.benchmark_group("start an instance");
    group.sample_size(20);
    for (name, plugin) in [
        ("block-scanners / rust", &scanners_rust),
        ("block-scanners / python", &scanners_python),
        ("secure-transport / rust", &transport_rust),
        ("secure-transport / python", &transport_python),
    ] {
        group.bench_function(name, |b| b.iter(|| plugin.start_instance().unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
