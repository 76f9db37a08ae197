//! The transport layer over loopback sockets, with short limits so that every
//! test runs in well under two seconds.

mod lifecycle;
mod tcp;
mod tls;
mod udp;
mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sipwarden::transport::{Inbound, Target, Transport, TransportConfig, TransportLayer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::Receiver;

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(2);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Listens on one loopback port per given transport.
fn config(transports: &[Transport]) -> TransportConfig {
    let on = |transport| if transports.contains(&transport) { vec![loopback()] } else { vec![] };
    TransportConfig {
        udp: on(Transport::Udp),
        tcp: on(Transport::Tcp),
        tls: on(Transport::Tls),
        header_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    }
}

async fn bind(config: &TransportConfig) -> (TransportLayer, Receiver<Inbound>) {
    TransportLayer::bind(config).await.unwrap()
}

/// A request with a body, so framing has to use Content-Length.
fn request(call_id: &str) -> Vec<u8> {
    let body = format!("body of {call_id}");
    format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP client.example.com;branch=z9hG4bK{call_id}\r\n\
         From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn response(call_id: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP client.example.com;branch=z9hG4bK{call_id}\r\n\
         From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

async fn next(inbound: &mut Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, inbound.recv()).await.expect("a message in time").expect("the layer is running")
}

/// Asserts that nothing arrives for a little while.
async fn nothing(inbound: &mut Receiver<Inbound>) {
    if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(100), inbound.recv()).await {
        panic!("unexpected message from {}", message.origin.source);
    }
}

/// Reads exactly `len` bytes.
async fn read_exactly(stream: &mut (impl AsyncRead + Unpin), len: usize) -> Vec<u8> {
    let mut buffer = vec![0; len];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buffer)).await.expect("bytes in time").unwrap();
    buffer
}

/// Whether the peer has closed the stream (EOF or reset) within `within`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> bool {
    let mut byte = [0; 1];
    matches!(tokio::time::timeout(within, stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

fn target(transport: Transport, addr: SocketAddr) -> Target {
    Target { transport, addr, flow: None, server_name: None }
}

fn bytes(data: Vec<u8>) -> Bytes {
    Bytes::from(data)
}

/// Polls `condition` until it holds, for at most [`WAIT`].
async fn eventually(mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
