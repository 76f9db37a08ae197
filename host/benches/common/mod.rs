//! What the benchmarks share: the request they time, and one request
//! through a chain measured the same way.

use criterion::{BatchSize, Criterion};
use sipwarden::policy::{Chain, Decision};
use sipwarden::sip;
use sipwarden::transport::Origin;

/// Time `Chain::decide` on `request` from `origin`, after checking that the
/// chain lets it through.
#[allow(dead_code)]
pub fn bench_decide(c: &mut Criterion, name: &str, chain: &Chain, request: &sip::Request, origin: &Origin) {
    let outcome = chain.decide(request.clone(), origin.clone());
    assert_eq!(outcome.decision, Decision::Forward, "{name}: {:?}", outcome.steps);
    bench_decision(c, name, chain, request, origin);
}

/// Time `Chain::decide` on `request` from `origin`, whatever it decides.
/// The request is cloned outside the timed part; the outcome is dropped
/// inside it, as the proxy drops it (`iter_batched` would collect every
/// outcome into a growing Vec while timing).
pub fn bench_decision(c: &mut Criterion, name: &str, chain: &Chain, request: &sip::Request, origin: &Origin) {
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

/// A MESSAGE as a phone sends it: ten headers and a short text (the
/// policies benchmark times a request of its own, from the SIP/IP core).
#[allow(dead_code)]
pub const MESSAGE: &str = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=49583\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: asd88asd77a@192.0.2.10\r\n\
CSeq: 1 MESSAGE\r\n\
User-Agent: Phone/1.0\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Accept-Contact: *;+g.oma.sip-im\r\n\
Content-Type: text/plain\r\n\
Content-Length: 10\r\n\r\nHello, Bob";
