//! What both benchmarks measure the same way: one request through a chain.

use criterion::{BatchSize, Criterion};
use sipwarden::policy::{Chain, Decision};
use sipwarden::sip;
use sipwarden::transport::Origin;

/// Time `Chain::decide` on `request` from `origin`, after checking that the
/// chain lets it through. The request is cloned outside the timed part; the
/// outcome is dropped inside it, as the proxy drops it (`iter_batched` would
/// collect every outcome into a growing Vec while timing).
pub fn bench_decide(c: &mut Criterion, name: &str, chain: &Chain, request: &sip::Request, origin: &Origin) {
    let outcome = chain.decide(request.clone(), origin.clone());
    assert_eq!(outcome.decision, Decision::Forward, "{name}: {:?}", outcome.steps);
    c.bench_function(name, |b| {
        b.iter_batched_ref(
            || Some((request.clone(), origin.clone())),
            |input| {
                if let Some((req, origin)) = input.take() {
                    drop(chain.decide(req, origin));
                }
            },
            BatchSize::SmallInput,
        )
    });
}
