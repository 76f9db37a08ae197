//! The proxy core, in process, over loopback UDP: registrar, forwarding,
//! forking, retransmissions, CANCEL, hop-by-hop checks.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sipwarden::config::Config;
use sipwarden::server::Server;
use sipwarden::transport::Transport;
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(3);

/// A running proxy with the example policy, and its UDP address.
struct Proxy {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    chain: sipwarden::proxy::Proxy,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn proxy(extra: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(common::wasm("block-scanners"), plugins.join("block-scanners.wasm")).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins/block-scanners/block-scanners.toml");
    std::fs::copy(manifest, plugins.join("block-scanners.toml")).unwrap();
    let text = format!("[plugins]\ndir = \"plugins\"\n[listen]\nudp = [\"127.0.0.1:0\"]\n{extra}\n");
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let server = Server::start(&config).await.unwrap();
    let addr = server.transport.local_addr(Transport::Udp).unwrap();
    let chain = server.proxy.clone().expect("SIP listeners are configured");
    let server = tokio::spawn(server.run());
    Proxy { addr, server, chain, _dir: dir }
}

const REGISTRAR: &str = "[registrar]\ndomains = [\"example.com\"]\n";

/// A SIP user agent on a UDP socket.
struct Ua {
    socket: UdpSocket,
    proxy: SocketAddr,
}

impl Ua {
    async fn new(proxy: SocketAddr) -> Ua {
        Ua { socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(), proxy }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    async fn send(&self, text: &str) {
        self.socket.send_to(text.as_bytes(), self.proxy).await.unwrap();
    }

    async fn recv(&self) -> String {
        let mut buf = vec![0; 65_535];
        let (n, _) =
            tokio::time::timeout(WAIT, self.socket.recv_from(&mut buf)).await.expect("a message in time").unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// The next message that is not a retransmission-style provisional.
    async fn recv_skipping_100(&self) -> String {
        loop {
            let m = self.recv().await;
            if !m.starts_with("SIP/2.0 100 ") {
                return m;
            }
        }
    }

    async fn nothing_for(&self, time: Duration) {
        let mut buf = vec![0; 65_535];
        if let Ok(Ok((n, _))) = tokio::time::timeout(time, self.socket.recv_from(&mut buf)).await {
            panic!("unexpected message: {}", String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// REGISTER `user@example.com` at this UA's address.
    async fn register(&self, user: &str, instance: &str) {
        let port = self.port();
        self.send(&format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{port};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag=r{port}\r\nTo: <sip:{user}@example.com>\r\n\
             Call-ID: reg-{port}\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:{user}@127.0.0.1:{port}>;+sip.instance=\"<urn:uuid:{instance}>\"\r\nExpires: 600\r\n\
             Content-Length: 0\r\n\r\n"
        ))
        .await;
        let reply = self.recv().await;
        assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    }
}

fn request(method: &str, uri: &str, from_port: u16, branch: &str, extra: &str) -> String {
    let body = if method == "MESSAGE" { "hello" } else { "" };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{from_port};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{from_port}\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: {branch}@test\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A response to `request` as the UA it reached would send it: every Via,
/// From, To (tagged), Call-ID and CSeq copied.
fn answer(request: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.split("\r\n") {
        let name = line.split(':').next().unwrap_or_default();
        match name {
            "Via" | "From" | "Call-ID" | "CSeq" | "Record-Route" => out.push_str(&format!("{line}\r\n")),
            "To" => out.push_str(&format!("{line};tag=callee\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[tokio::test]
async fn message_reaches_a_registered_user_and_the_answer_comes_back() {
    let proxy = proxy(REGISTRAR).await;
    let (alice, bob) = (Ua::new(proxy.addr).await, Ua::new(proxy.addr).await);
    bob.register("bob", "bob-phone").await;

    alice.send(&request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKm1", "")).await;
    let forwarded = bob.recv().await;
    assert!(forwarded.starts_with(&format!("MESSAGE sip:bob@127.0.0.1:{} SIP/2.0\r\n", bob.port())), "{forwarded}");
    assert_eq!(header(&forwarded, "Via").len(), 2);
    assert_eq!(header(&forwarded, "Max-Forwards"), ["69"]);
    assert_eq!(header(&forwarded, "X-Screened-By"), ["block-scanners"], "the policy chain ran");

    bob.send(&answer(&forwarded, "200 OK")).await;
    let reply = alice.recv().await;
    assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    assert_eq!(header(&reply, "Via").len(), 1, "the proxy's Via is removed: {reply}");
}

#[tokio::test]
async fn a_policy_answer_is_resent_for_a_retransmission_without_running_the_chain_again() {
    let proxy = proxy(REGISTRAR).await;
    let alice = Ua::new(proxy.addr).await;
    let scan =
        request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKscan", "User-Agent: friendly-scanner\r\n");
    alice.send(&scan).await;
    let first = alice.recv().await;
    assert!(first.starts_with("SIP/2.0 403 Forbidden\r\n"), "{first}");
    alice.send(&scan).await;
    let second = alice.recv().await;
    assert_eq!(first, second, "a retransmission gets the same answer, byte for byte");
    assert_eq!(proxy.chain.chain().plugins()[0].stats().calls, 1);
}

#[tokio::test]
async fn unknown_users_foreign_domains_and_exhausted_hops() {
    let proxy = proxy(REGISTRAR).await;
    let alice = Ua::new(proxy.addr).await;
    let cases = [
        (request("MESSAGE", "sip:nobody@example.com", alice.port(), "z9hG4bKu1", ""), "480 Temporarily Unavailable"),
        (request("MESSAGE", "sip:bob@elsewhere.example", alice.port(), "z9hG4bKu2", ""), "403 Relaying Denied"),
        (
            request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKu3", "")
                .replace("Max-Forwards: 70", "Max-Forwards: 0"),
            "483 Too Many Hops",
        ),
        (request("OPTIONS", &format!("sip:{}", proxy.addr), alice.port(), "z9hG4bKu4", ""), "200 OK"),
        (
            request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKu5", "Proxy-Require: foo\r\n"),
            "420 Bad Extension",
        ),
        (
            request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKu6", "")
                .replace("CSeq: 1 MESSAGE", "CSeq: x MESSAGE"),
            "400 ",
        ),
    ];
    for (message, status) in cases {
        alice.send(&message).await;
        let reply = alice.recv().await;
        assert!(reply.starts_with(&format!("SIP/2.0 {status}")), "expected {status}: {reply}");
    }
}

#[tokio::test]
async fn a_request_that_comes_back_unchanged_is_a_loop() {
    // An upstream that is the proxy itself: the request comes straight back.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let path = dir.path().join("sipwarden.toml");
    std::fs::write(
        &path,
        format!("[plugins]\ndir = \"plugins\"\n[listen]\nudp = [\"127.0.0.1:{port}\"]\n[upstream]\nuri = \"sip:127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let server = Server::start(&Config::load(&path).unwrap()).await.unwrap();
    let task = tokio::spawn(server.run());
    let alice = Ua::new(format!("127.0.0.1:{port}").parse().unwrap()).await;
    alice.send(&request("MESSAGE", "sip:bob@example.net", alice.port(), "z9hG4bKloop", "")).await;
    let reply = alice.recv().await;
    assert!(reply.starts_with("SIP/2.0 482 Loop Detected\r\n"), "{reply}");
    task.abort();
}

#[tokio::test]
async fn requests_fork_to_every_device_of_a_user() {
    let proxy = proxy(REGISTRAR).await;
    let (alice, phone, laptop) = (Ua::new(proxy.addr).await, Ua::new(proxy.addr).await, Ua::new(proxy.addr).await);
    phone.register("bob", "phone").await;
    laptop.register("bob", "laptop").await;

    alice.send(&request("MESSAGE", "sip:bob@example.com", alice.port(), "z9hG4bKfork", "")).await;
    let (to_phone, to_laptop) = (phone.recv().await, laptop.recv().await);
    assert!(to_phone.contains(&format!("sip:bob@127.0.0.1:{}", phone.port())), "{to_phone}");
    assert!(to_laptop.contains(&format!("sip:bob@127.0.0.1:{}", laptop.port())), "{to_laptop}");

    laptop.send(&answer(&to_laptop, "486 Busy Here")).await;
    alice.nothing_for(Duration::from_millis(300)).await;
    phone.send(&answer(&to_phone, "200 OK")).await;
    let reply = alice.recv().await;
    assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "the best response wins: {reply}");
}

#[tokio::test]
async fn invite_is_record_routed_and_can_be_cancelled() {
    let proxy = proxy(REGISTRAR).await;
    let (alice, bob) = (Ua::new(proxy.addr).await, Ua::new(proxy.addr).await);
    bob.register("bob", "bob-phone").await;

    let invite =
        request("INVITE", "sip:bob@example.com", alice.port(), "z9hG4bKinv", "Contact: <sip:alice@127.0.0.1>\r\n");
    alice.send(&invite).await;
    let trying = alice.recv().await;
    assert!(trying.starts_with("SIP/2.0 100 Trying\r\n"), "{trying}");
    let forwarded = bob.recv().await;
    assert_eq!(header(&forwarded, "Record-Route"), [format!("<sip:127.0.0.1:{};lr>", proxy.addr.port())]);

    bob.send(&answer(&forwarded, "180 Ringing")).await;
    let ringing = alice.recv_skipping_100().await;
    assert!(ringing.starts_with("SIP/2.0 180 Ringing\r\n"), "{ringing}");

    alice.send(&invite.replacen("INVITE sip:", "CANCEL sip:", 1).replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")).await;
    let cancel_ok = alice.recv().await;
    assert!(cancel_ok.starts_with("SIP/2.0 200 OK\r\n") && cancel_ok.contains("CANCEL"), "{cancel_ok}");
    let cancel = bob.recv().await;
    assert!(cancel.starts_with("CANCEL "), "{cancel}");
    assert_eq!(header(&cancel, "Via")[0], header(&forwarded, "Via")[0], "the CANCEL matches the forwarded INVITE");

    bob.send(&answer(&forwarded, "487 Request Terminated")).await;
    let ack = bob.recv_skipping_100().await;
    assert!(ack.starts_with("ACK "), "the proxy acknowledges the 487 hop by hop: {ack}");
    let terminated = alice.recv_skipping_100().await;
    assert!(terminated.starts_with("SIP/2.0 487 Request Terminated\r\n"), "{terminated}");
}
