//! SIP over WebSocket (RFC 7118): the handshake, one SIP message per
//! WebSocket message each way, and the protocol's corners (fragments,
//! binary frames, ping, close, the size limit), with a real WebSocket
//! client (tokio-tungstenite, as a browser's stack would speak it). After
//! each bad peer, a good one is still served.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use sipwarden::transport::{Flow, Transport, TransportError};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{self, Message};

use super::*;

type Client = WebSocketStream<TcpStream>;

fn ws_config() -> TransportConfig {
    TransportConfig { ws: vec![loopback()], ..config(&[]) }
}

/// The upgrade request a browser's SIP stack sends.
fn upgrade(addr: SocketAddr, protocol: Option<&str>, origin: Option<&str>) -> tungstenite::handshake::client::Request {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol).unwrap());
    }
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    request
}

async fn connect(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (client, response) = tokio_tungstenite::client_async(upgrade(addr, Some("sip"), None), stream).await.unwrap();
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").unwrap(), "sip", "the subprotocol is agreed");
    client
}

/// The next data message the client receives.
async fn receive(client: &mut Client) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, client.next()).await.expect("a message in time");
        match message.expect("the connection is open").expect("a valid message") {
            Message::Ping(_) | Message::Pong(_) => continue,
            message => return message,
        }
    }
}

/// A SIP message to and from the layer works on a fresh connection: what
/// every test checks after its bad peer.
async fn still_serves(layer: &TransportLayer, inbound: &mut Receiver<Inbound>, addr: SocketAddr) {
    let mut client = connect(addr).await;
    client.send(Message::text(String::from_utf8(request("after")).unwrap())).await.unwrap();
    let message = next(inbound).await;
    assert_eq!(message.bytes, bytes(request("after")));
    let Flow::Stream(id) = message.flow else { panic!("a WebSocket message comes on a connection") };
    let back = Target { flow: Some(id), ..target(Transport::Ws, message.origin.source) };
    layer.send(&back, bytes(response("after"))).await.unwrap();
    assert_eq!(receive(&mut client).await, Message::text(String::from_utf8(response("after")).unwrap()));
}

#[tokio::test]
async fn one_sip_message_per_websocket_message_each_way() {
    let (layer, mut inbound) = bind(&ws_config()).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    let mut client = connect(addr).await;

    // A text message and a binary one: each is one SIP message, delivered
    // with the transport and the connection it came on.
    client.send(Message::text(String::from_utf8(request("text")).unwrap())).await.unwrap();
    client.send(Message::binary(request("binary"))).await.unwrap();
    let text = next(&mut inbound).await;
    let binary = next(&mut inbound).await;
    assert_eq!((text.bytes, binary.bytes), (bytes(request("text")), bytes(request("binary"))));
    assert_eq!(text.origin.transport, Transport::Ws);
    assert_eq!(text.flow, binary.flow);

    // A message without Content-Length is whole too: the WebSocket message
    // says where it ends, as a datagram does.
    let bare = "OPTIONS sip:proxy SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKbare\r\n\r\n";
    client.send(Message::text(bare)).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, bare.as_bytes());

    // The answer goes back over the client's connection, as a text message.
    let Flow::Stream(id) = text.flow else { panic!("a stream flow") };
    let back = Target { flow: Some(id), ..target(Transport::Ws, text.origin.source) };
    layer.send(&back, bytes(response("text"))).await.unwrap();
    assert_eq!(receive(&mut client).await, Message::text(String::from_utf8(response("text")).unwrap()));
    // By its address alone, too: a stateless response finds it.
    layer.send(&target(Transport::Ws, text.origin.source), bytes(response("again"))).await.unwrap();
    assert_eq!(receive(&mut client).await, Message::text(String::from_utf8(response("again")).unwrap()));
}

#[tokio::test]
async fn a_fragmented_message_arrives_whole_and_pings_are_answered() {
    let (layer, mut inbound) = bind(&ws_config()).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    let mut client = connect(addr).await;
    let whole = request("fragmented");
    let (first, rest) = whole.split_at(40);
    let (second, third) = rest.split_at(rest.len() / 2);
    let frame = |opcode, payload: &[u8], is_final| {
        Frame::from_payload(FrameHeader { is_final, opcode, ..FrameHeader::default() }, payload.to_vec().into())
    };
    client.send(Message::Frame(frame(OpCode::Data(Data::Text), first, false))).await.unwrap();
    client.send(Message::Ping("are you there".into())).await.unwrap();
    client.send(Message::Frame(frame(OpCode::Data(Data::Continue), second, false))).await.unwrap();
    client.send(Message::Frame(frame(OpCode::Data(Data::Continue), third, true))).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, bytes(whole));
    // The ping between the fragments was answered.
    let pong = tokio::time::timeout(WAIT, client.next()).await.expect("a pong in time").unwrap().unwrap();
    assert_eq!(pong, Message::Pong("are you there".into()));
    nothing(&mut inbound).await;
}

#[tokio::test]
async fn a_close_is_answered_and_the_connection_is_gone() {
    let (layer, mut inbound) = bind(&ws_config()).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    let mut client = connect(addr).await;
    client.send(Message::text(String::from_utf8(request("before")).unwrap())).await.unwrap();
    let peer = next(&mut inbound).await.origin.source;
    client.close(None).await.unwrap();
    let answer = tokio::time::timeout(WAIT, client.next()).await.expect("the close is answered");
    assert!(matches!(answer, Some(Ok(Message::Close(_))) | None), "{answer:?}");
    eventually(|| layer.stats().connections_open == 0).await;
    // Nothing can reach a browser whose connection is gone: the proxy
    // never connects to one.
    match layer.send(&target(Transport::Ws, peer), bytes(response("late"))).await {
        Err(TransportError::NoWebSocket { transport: Transport::Ws, .. }) => {}
        other => panic!("expected NoWebSocket, got {other:?}"),
    }
    still_serves(&layer, &mut inbound, addr).await;
}

#[tokio::test]
async fn the_handshake_needs_the_sip_subprotocol() {
    let (layer, mut inbound) = bind(&ws_config()).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    for protocol in [None, Some("xmpp"), Some("sips, chat")] {
        let stream = TcpStream::connect(addr).await.unwrap();
        match tokio_tungstenite::client_async(upgrade(addr, protocol, None), stream).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400, "{protocol:?}"),
            other => panic!("{protocol:?}: expected a refused handshake, got {:?}", other.map(|_| ())),
        }
    }
    eventually(|| layer.stats().connections_open == 0).await;
    still_serves(&layer, &mut inbound, addr).await;
}

#[tokio::test]
async fn only_listed_origins_may_connect() {
    let config = TransportConfig { ws_origins: vec!["https://app.example.com".into()], ..ws_config() };
    let (layer, mut inbound) = bind(&config).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    for origin in [Some("https://evil.example"), None] {
        let stream = TcpStream::connect(addr).await.unwrap();
        match tokio_tungstenite::client_async(upgrade(addr, Some("sip"), origin), stream).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403, "{origin:?}"),
            other => panic!("{origin:?}: expected 403, got {:?}", other.map(|_| ())),
        }
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    let listed = upgrade(addr, Some("sip"), Some("https://app.example.com"));
    let (mut client, _) = tokio_tungstenite::client_async(listed, stream).await.unwrap();
    client.send(Message::text(String::from_utf8(request("listed")).unwrap())).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, bytes(request("listed")));
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_connection_with_1009() {
    let config = TransportConfig { max_message_bytes: 2048, ..ws_config() };
    let (layer, mut inbound) = bind(&config).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    let mut client = connect(addr).await;
    client.send(Message::binary(vec![b'x'; 4096])).await.unwrap();
    match tokio::time::timeout(WAIT, client.next()).await.expect("an answer in time") {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
    nothing(&mut inbound).await;
    eventually(|| layer.stats().connections_open == 0).await;
    assert!(layer.stats().framing_errors >= 1);
    still_serves(&layer, &mut inbound, addr).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_stalled_handshake_too() {
    let config = TransportConfig { idle_timeout: Duration::from_millis(300), ..ws_config() };
    let (layer, mut inbound) = bind(&config).await;
    let addr = layer.local_addr(Transport::Ws).unwrap();
    let mut idle = connect(addr).await;
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.next()).await.expect("closed in time");
    assert!(matches!(closed, None | Some(Ok(Message::Close(_))) | Some(Err(_))), "{closed:?}");
    // A client that opens the TCP connection and never upgrades holds a
    // slot only for the handshake timeout (header-timeout-ms).
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut stalled, Duration::from_secs(2)).await, "the stalled handshake is dropped");
    still_serves(&layer, &mut inbound, addr).await;
}

#[tokio::test]
async fn wss_presents_the_tls_certificate() {
    let config = TransportConfig { wss: vec![loopback()], ..config(&[]) };
    let (layer, mut inbound) = bind(&config).await;
    let addr = layer.local_addr(Transport::Wss).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(layer.tls_certificate().expect("wss presents a certificate")).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut upgrade = format!("wss://localhost:{}/", addr.port()).into_client_request().unwrap();
    upgrade.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let (mut client, _) = tokio_tungstenite::client_async(upgrade, tls).await.unwrap();
    client.send(Message::text(String::from_utf8(request("secure")).unwrap())).await.unwrap();
    let message = next(&mut inbound).await;
    assert_eq!((message.origin.transport, message.bytes), (Transport::Wss, bytes(request("secure"))));
}
