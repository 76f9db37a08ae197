//! What a plugin costs before it decides anything: compiling its component
//! (cold, and from the compiled-component cache), starting an instance, and
//! the resident memory each instance adds. Used by `bench/python` (not a
//! test) to compare a Python plugin with its Rust twin:
//!
//! ```sh
//! cargo run --release -p sipwarden --example instances -- PLUGIN.wasm MANIFEST.toml 4
//! ```
//!
//! Prints one line of `key=value` figures: the component's size, the cold
//! compile and the cached load (milliseconds), the median start of a fresh
//! instance (instantiation and `init`, milliseconds, over 20), and the
//! process's resident set after loading and with N instances held
//! (MiB, from /proc/self/status).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sipwarden::capability::Capabilities;
use sipwarden::policy::{Engine, EngineOptions, Manifest, Plugin};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wasm, manifest, instances] = args.as_slice() else {
        bail!("usage: instances PLUGIN.wasm MANIFEST.toml INSTANCES");
    };
    let instances: usize = instances.parse().context("INSTANCES is a number")?;
    let wasm = PathBuf::from(wasm);
    let manifest = Manifest::load(Path::new(manifest))?;
    let size = std::fs::metadata(&wasm).with_context(|| format!("{}: cannot read", wasm.display()))?.len();

    // Cold: an engine without the cache compiles the component.
    let cold_engine = engine(None)?;
    let started = Instant::now();
    drop(cold_engine.load_file_with(&wasm, manifest.clone())?);
    let cold = started.elapsed();

    // Cached: a first load fills a fresh cache, the second reads it.
    let cache = tempfile::tempdir()?;
    let cached_engine = engine(Some(cache.path().to_path_buf()))?;
    drop(cached_engine.load_file_with(&wasm, manifest.clone())?);
    let started = Instant::now();
    let plugin = cached_engine.load_file_with(&wasm, manifest.clone())?;
    let cached = started.elapsed();
    drop(cold_engine);

    let start = median_start(&plugin, 20)?;
    // The instances above went to the idle pool; measure from a fresh load.
    drop(plugin);
    let plugin = cached_engine.load_file_with(&wasm, manifest)?;
    let loaded = rss_mib()?;
    for _ in 1..instances {
        plugin.start_instance()?;
    }
    let held = rss_mib()?;
    println!(
        "size_mib={:.1} compile_cold_ms={} load_cached_ms={} start_ms={:.2} rss_loaded_mib={loaded:.1} \
         rss_{instances}_instances_mib={held:.1}",
        size as f64 / f64::from(1 << 20),
        cold.as_millis(),
        cached.as_millis(),
        start.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn engine(cache_dir: Option<PathBuf>) -> anyhow::Result<Engine> {
    let options = EngineOptions { cache_dir, pool_slots: Some(64), ..EngineOptions::default() };
    Ok(Engine::new(&options, Capabilities::inert()?)?)
}

/// The median time to start a fresh instance (the pool keeps at most 32
/// idle: beyond that each is dropped again, as a replacement would be).
fn median_start(plugin: &Plugin, rounds: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        plugin.start_instance()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// The resident set of this process, in MiB.
fn rss_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib / 1024.0)
}
