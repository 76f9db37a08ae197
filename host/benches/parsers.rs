//! Our SIP parser against rsip 0.4 on the same messages: a 10-header
//! MESSAGE as the proxy sees it at load, and every RFC 4475 message both
//! parsers accept (so neither is timed failing early).
//!
//! Run with `cargo bench -p sipwarden --bench parsers`; docs/BENCHMARKS.md
//! and docs/DESIGN.md quote the figures.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use sipwarden::sip;

// Only the request the other benchmarks time is used here.
#[allow(dead_code)]
mod common;

/// The MESSAGE the chain benchmark decides.
const MESSAGE: &[u8] = common::MESSAGE.as_bytes();

// The same allocator as the binary, so the figures are the proxy's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus/rfc4475"))
        .find(|dir| dir.join("INDEX.tsv").is_file())
        .expect("shared/corpus/rfc4475 not found above CARGO_MANIFEST_DIR")
}

/// The corpus messages both parsers accept.
fn common_corpus() -> Vec<Vec<u8>> {
    let dir = corpus_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("INDEX.tsv");
    index
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .filter_map(|file| std::fs::read(dir.join(file)).ok())
        .filter(|bytes| sip::parse(bytes).is_ok() && rsip::SipMessage::try_from(bytes.as_slice()).is_ok())
        .collect()
}

fn parsers(c: &mut Criterion) {
    assert!(sip::parse(MESSAGE).is_ok() && rsip::SipMessage::try_from(MESSAGE).is_ok());
    let mut group = c.benchmark_group("parse a 10-header MESSAGE");
    group.bench_function("sipwarden", |b| b.iter(|| sip::parse(black_box(MESSAGE))));
    group.bench_function("rsip 0.4", |b| b.iter(|| rsip::SipMessage::try_from(black_box(MESSAGE))));
    group.finish();

    let corpus = common_corpus();
    let mut group = c.benchmark_group(format!("parse the {} RFC 4475 messages both accept", corpus.len()));
    group.bench_function("sipwarden", |b| {
        b.iter(|| corpus.iter().map(|m| sip::parse(black_box(m)).is_ok() as usize).sum::<usize>())
    });
    group.bench_function("rsip 0.4", |b| {
        b.iter(|| {
            corpus.iter().map(|m| rsip::SipMessage::try_from(black_box(m.as_slice())).is_ok() as usize).sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
