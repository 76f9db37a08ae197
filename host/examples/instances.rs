//! What a plugin costs before it decides anything: compiling its component,
//! loading it compiled, starting an instance, and the resident memory each
//! instance adds. Used by `bench/python` (not a test) to compare a Python
//! plugin with its Rust twin, in two processes so that the compiler's
//! memory does not count as the instances':
//!
//! ```sh
//! # compile into CACHE (cold: the cache must be empty), print the time
//! cargo run --release -p sipwarden --example instances -- compile PLUGIN.wasm MANIFEST.toml CACHE
//! # from CACHE: load, start instances, hold N of them, print time and memory
//! cargo run --release -p sipwarden --example instances -- hold PLUGIN.wasm MANIFEST.toml CACHE 4
//! ```
//!
//! Each prints one line of `key=value` figures: `compile` the component's
//! size and the cold compile (ms); `hold` the cached load (ms), the median
//! start of a fresh instance (instantiation and `init`, ms, over 20), and
//! the process's resident set before loading, after, and with N instances
//! held (MiB, from /proc/self/status).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sipwarden::capability::Capabilities;
use sipwarden::policy::{Engine, EngineOptions, Manifest, Plugin};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["compile", wasm, manifest, cache] => compile(Path::new(wasm), &Manifest::load(Path::new(manifest))?, cache),
        ["hold", wasm, manifest, cache, instances] => {
            hold(Path::new(wasm), &Manifest::load(Path::new(manifest))?, cache, instances.parse()?)
        }
        _ => bail!("usage: instances compile PLUGIN.wasm MANIFEST.toml CACHE | hold PLUGIN.wasm MANIFEST.toml CACHE N"),
    }
}

fn compile(wasm: &Path, manifest: &Manifest, cache: &str) -> anyhow::Result<()> {
    let size = std::fs::metadata(wasm).with_context(|| format!("{}: cannot read", wasm.display()))?.len();
    let engine = engine(cache)?;
    let started = Instant::now();
    drop(engine.load_file_with(wasm, manifest.clone())?);
    println!("size_mib={:.1} compile_cold_ms={}", size as f64 / f64::from(1 << 20), started.elapsed().as_millis());
    Ok(())
}

fn hold(wasm: &Path, manifest: &Manifest, cache: &str, instances: usize) -> anyhow::Result<()> {
    let engine = engine(cache)?;
    let before = rss_mib()?;
    let started = Instant::now();
    let plugin = engine.load_file_with(wasm, manifest.clone())?;
    let cached = started.elapsed();
    let start = median_start(&plugin, 20)?;
    // The instances above went to the idle pool; measure from a fresh load.
    drop(plugin);
    let plugin = engine.load_file_with(wasm, manifest.clone())?;
    let loaded = rss_mib()?;
    for _ in 1..instances {
        plugin.start_instance()?;
    }
    let held = rss_mib()?;
    println!(
        "load_cached_ms={} start_ms={:.2} rss_before_mib={before:.1} rss_loaded_mib={loaded:.1} \
         rss_{instances}_instances_mib={held:.1} ({})",
        cached.as_millis(),
        start.as_secs_f64() * 1e3,
        rss_parts()?,
    );
    Ok(())
}

fn engine(cache_dir: &str) -> anyhow::Result<Engine> {
    let options =
        EngineOptions { cache_dir: Some(PathBuf::from(cache_dir)), pool_slots: Some(64), ..EngineOptions::default() };
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

/// What the resident set is made of: anonymous memory (the heap, compiled
/// code, instances' written pages), files mapped, shared memory (the
/// memfd memory images), in MiB.
fn rss_parts() -> anyhow::Result<String> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> f64 {
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    };
    Ok(format!("anon {:.1}, file {:.1}, shmem {:.1}", field("RssAnon:"), field("RssFile:"), field("RssShmem:")))
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
