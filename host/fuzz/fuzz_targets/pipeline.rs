//! Raw bytes through framing, parsing and the proxy core, as if they had
//! arrived in a datagram or on a stream.
//!
//! Run it in a network namespace with loopback only (see bench/fuzz), so
//! that whatever address a fuzzed message names, nothing leaves the machine:
//! `unshare -rn sh -c 'ip link set lo up; cargo +nightly fuzz run pipeline'`.

#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sipwarden::config::Config;
use sipwarden::proxy::Proxy;
use sipwarden::server::Server;
use sipwarden::sip;
use sipwarden::transport::{Flow, Inbound, Origin, Transport};

struct Harness {
    runtime: tokio::runtime::Runtime,
    proxy: Proxy,
    _dir: tempfile::TempDir,
}

/// One proxy for the whole run: a registrar for example.com and an
/// upstream for everything else, both on loopback, with no plugins (the
/// policy engine has its own tests; this target is about SIP input).
static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("plugins")).expect("plugin dir");
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(
        &path,
        "[plugins]\ndir = \"plugins\"\n[listen]\nudp = [\"127.0.0.1:0\"]\n\
         [registrar]\ndomains = [\"example.com\"]\n[upstream]\nuri = \"sip:127.0.0.1:9\"\n",
    )
    .expect("config");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = Config::load(&path).expect("config loads");
    let server = runtime.block_on(Server::start(&config)).expect("server starts");
    let proxy = server.proxy.clone().expect("SIP listeners are configured");
    runtime.spawn(server.run());
    Harness { runtime, proxy, _dir: dir }
});

fuzz_target!(|data: &[u8]| {
    let _ = sip::frame(data, 65_535);
    let _ = sip::salvage_request_headers(data);
    if let Ok(message) = sip::parse(data) {
        // What parses must serialize to something that parses the same way.
        let bytes = match &message {
            sip::Message::Request(r) => r.to_bytes(),
            sip::Message::Response(r) => r.to_bytes(),
        };
        let again = sip::parse(&bytes).expect("a serialized message parses");
        let bytes_again = match &again {
            sip::Message::Request(r) => r.to_bytes(),
            sip::Message::Response(r) => r.to_bytes(),
        };
        assert_eq!(bytes, bytes_again, "serialization is stable");
    }
    let h = &*HARNESS;
    let inbound = Inbound {
        bytes: Bytes::copy_from_slice(data),
        origin: Origin { transport: Transport::Udp, source: "127.0.0.1:9".parse().expect("addr"), tls_peer: None },
        flow: Flow::Datagram,
    };
    h.runtime.block_on(h.proxy.handle(inbound));
});
