//! The `secure-transport` policy (SEC-4 / REG-1): signalling and
//! registrations over TLS, except from trusted peers; `sips:` honoured.

mod common;

use std::path::Path;
use std::sync::Arc;

use sipwarden::capability::Capabilities;
use sipwarden::policy::{Chain, Decision, Engine, EngineOptions, LoadError, Manifest, StepResult};
use sipwarden::sip;
use sipwarden::transport::{Origin, Transport};

fn engine() -> Engine {
    let options = EngineOptions { pool_slots: Some(64), ..EngineOptions::default() };
    Engine::new(&options, Capabilities::inert().unwrap()).unwrap()
}

/// The policy with this `[config]` body.
fn load(engine: &Engine, config: &str) -> Result<Chain, LoadError> {
    let text = format!("order = 10\n[config]\n{config}\n");
    let manifest = Manifest::parse(&text, Path::new("secure-transport.toml")).unwrap();
    let plugin = engine.load_file_with(&common::wasm("secure-transport"), manifest)?;
    Ok(Chain::new(vec![Arc::new(plugin)]))
}

const CONFIG: &str = "trusted-peers = [\"10.1.0.0/16\", \"2001:db8:c0::/48\"]\n\
                      tls-uri = \"sips:proxy.example.com:5061\"";

fn origin(transport: Transport, source: &str) -> Origin {
    Origin { transport, source: source.parse().unwrap(), tls_peer: None }
}

fn request(method: &str, uri: &str, to: &str) -> sip::Request {
    let text = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKst1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: {to}\r\n\
         Call-ID: st-1@192.0.2.10\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("sample {method} did not parse: {other:?}"),
    }
}

fn register() -> sip::Request {
    request("REGISTER", "sip:example.com", "<sip:alice@example.com>")
}

/// The status, reason and headers of a refusal by the policy itself.
fn refusal(outcome: &sipwarden::policy::Outcome) -> (u16, &str, Vec<(&str, &str)>) {
    match &outcome.decision {
        Decision::Respond { reply, failure: false, .. } => {
            (reply.status, reply.reason.as_str(), reply.headers.iter().map(|h| (h.name(), h.value())).collect())
        }
        other => panic!("expected a refusal, got {other:?} ({:?})", outcome.steps),
    }
}

fn assert_passes(outcome: &sipwarden::policy::Outcome) {
    assert_eq!(outcome.decision, Decision::Forward, "{:?}", outcome.steps);
    assert!(matches!(&outcome.steps[0].result, StepResult::Continue { edits } if edits.is_empty()));
}

const WARNING: (&str, &str) = ("Warning", "399 proxy.example.com \"Use TLS: send to sips:proxy.example.com:5061\"");

#[test]
fn register_over_udp_from_an_untrusted_source_is_refused_with_a_warning() {
    let chain = load(&engine(), CONFIG).unwrap();
    let outcome = chain.decide(register(), origin(Transport::Udp, "192.0.2.10:5060"));
    assert_eq!(refusal(&outcome), (403, "TLS Required", vec![WARNING]));
    // Plain TCP and plain WebSocket are no better.
    for transport in [Transport::Tcp, Transport::Ws] {
        let outcome = chain.decide(register(), origin(transport, "192.0.2.10:40000"));
        assert_eq!(refusal(&outcome), (403, "TLS Required", vec![WARNING]), "{transport:?}");
    }
}

#[test]
fn register_over_tls_passes() {
    let chain = load(&engine(), CONFIG).unwrap();
    for transport in [Transport::Tls, Transport::Wss] {
        assert_passes(&chain.decide(register(), origin(transport, "192.0.2.10:5061")));
    }
}

#[test]
fn trusted_peers_may_use_plain_transports() {
    let chain = load(&engine(), CONFIG).unwrap();
    assert_passes(&chain.decide(register(), origin(Transport::Udp, "10.1.200.7:5060")));
    assert_passes(&chain.decide(register(), origin(Transport::Tcp, "[2001:db8:c0:1::5]:5060")));
    // An IPv4 peer seen on a dual-stack socket is the same peer.
    assert_passes(&chain.decide(register(), origin(Transport::Udp, "[::ffff:10.1.0.1]:5060")));
    // Just outside the prefixes.
    for source in ["10.2.0.1:5060", "[2001:db8:c1::5]:5060"] {
        let outcome = chain.decide(register(), origin(Transport::Udp, source));
        assert_eq!(refusal(&outcome).0, 403, "{source}");
    }
}

#[test]
fn the_im_methods_are_enforced_and_options_is_not() {
    let chain = load(&engine(), CONFIG).unwrap();
    let untrusted = || origin(Transport::Udp, "192.0.2.10:5060");
    for method in ["MESSAGE", "INVITE", "SUBSCRIBE", "PUBLISH", "NOTIFY", "REFER"] {
        let outcome = chain.decide(request(method, "sip:bob@example.com", "<sip:bob@example.com>"), untrusted());
        assert_eq!(refusal(&outcome), (403, "TLS Required", vec![WARNING]), "{method}");
    }
    let options = request("OPTIONS", "sip:example.com", "<sip:example.com>");
    assert_passes(&chain.decide(options, untrusted()));
}

#[test]
fn configured_methods_status_and_reason_replace_the_defaults() {
    let chain = load(&engine(), "methods = [\"OPTIONS\"]\nstatus = 488\nreason = \"Use TLS\"").unwrap();
    let untrusted = || origin(Transport::Udp, "192.0.2.10:5060");
    let options = request("OPTIONS", "sip:example.com", "<sip:example.com>");
    assert_eq!(
        refusal(&chain.decide(options, untrusted())),
        (488, "Use TLS", vec![("Warning", "399 sipwarden \"Use TLS\"")])
    );
    assert_passes(&chain.decide(register(), untrusted()));
}

#[test]
fn sips_over_a_plain_transport_is_refused_even_from_a_trusted_peer() {
    let chain = load(&engine(), CONFIG).unwrap();
    let sips_uri = request("MESSAGE", "sips:bob@example.com", "<sip:bob@example.com>");
    let outcome = chain.decide(sips_uri, origin(Transport::Tcp, "10.1.0.9:5060"));
    assert_eq!(refusal(&outcome), (403, "SIPS Requires TLS", vec![WARNING]));
    // A sips: To, and a method the TLS rule does not enforce.
    let sips_to = request("OPTIONS", "sip:example.com", "\"Bob <x>\" <SIPS:bob@example.com>");
    let outcome = chain.decide(sips_to, origin(Transport::Udp, "10.1.0.9:5060"));
    assert_eq!(refusal(&outcome), (403, "SIPS Requires TLS", vec![WARNING]));
    // Over TLS, sips: is satisfied.
    let sips_uri = request("MESSAGE", "sips:bob@example.com", "<sips:bob@example.com>");
    assert_passes(&chain.decide(sips_uri, origin(Transport::Tls, "192.0.2.10:5061")));
}

#[test]
fn a_bad_trusted_peer_refuses_the_load_and_names_the_entry() {
    let engine = engine();
    for (entry, why) in [
        ("10.1.0.0/33", "`10.1.0.0/33` has a bad prefix length `/33` (0-32)"),
        ("10.1.0/16", "`10.1.0/16` is not an IP address or CIDR prefix"),
        ("10.1.2.3/16", "`10.1.2.3/16` has bits set beyond its /16 prefix (did you mean `10.1.0.0/16`?)"),
        ("2001:db8::/129", "`2001:db8::/129` has a bad prefix length `/129` (0-128)"),
        ("core.example.net", "`core.example.net` is not an IP address or CIDR prefix"),
    ] {
        let config = format!("trusted-peers = [\"192.0.2.0/24\", \"{entry}\"]");
        let err = load(&engine, &config).err().expect("must be refused").to_string();
        assert!(err.contains(&format!("trusted-peers: {why}")), "{entry}: {err}");
    }
}

#[test]
fn other_bad_configurations_are_refused() {
    let engine = engine();
    for (config, expected) in [
        ("tls-uri = \"sip:proxy.example.com:5061\"", "tls-uri: `sip:proxy.example.com:5061` is not a sips: URI"),
        ("tls-uri = \"sips:proxy.example.com:99999\"", "has a bad port `99999`"),
        ("tls-uri = \"sips:alice@proxy.example.com\"", "must name the proxy by host and port"),
        ("status = 200", "status 200 is not a final error status"),
        ("reason = \"\"", "must be a non-empty phrase"),
        ("trusted-names = [\"core.example.net\"]", "unknown field `trusted-names`"),
    ] {
        let err = load(&engine, config).err().expect("must be refused").to_string();
        assert!(err.contains(expected), "{config}: {err}");
    }
    assert!(load(&engine, "tls-uri = \"sips:[2001:db8::1]:5061;transport=tcp\"").is_ok());
}

#[test]
fn the_bundled_manifest_trusts_loopback_only() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/bundle/secure-transport.toml");
    let manifest = Manifest::load(&path).unwrap();
    assert_eq!(manifest.order, 10);
    let plugin = engine().load_file_with(&common::wasm("secure-transport"), manifest).unwrap();
    let chain = Chain::new(vec![Arc::new(plugin)]);
    assert_passes(&chain.decide(register(), origin(Transport::Udp, "127.0.0.1:5060")));
    assert_passes(&chain.decide(register(), origin(Transport::Tcp, "[::1]:5060")));
    let outcome = chain.decide(register(), origin(Transport::Udp, "192.0.2.10:5060"));
    assert_eq!(refusal(&outcome), (403, "TLS Required", vec![("Warning", "399 sipwarden \"Use TLS\"")]));
}
