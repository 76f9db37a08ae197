use sipwarden::transport::{Transport, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::*;

#[tokio::test]
async fn shutdown_closes_everything() {
    let (layer, mut inbound) = bind(&config(&[Transport::Udp, Transport::Tcp])).await;
    let tcp = layer.local_addr(Transport::Tcp).unwrap();
    let udp = layer.local_addr(Transport::Udp).unwrap();
    let mut client = TcpStream::connect(tcp).await.unwrap();
    client.write_all(&request("before")).await.unwrap();
    next(&mut inbound).await;

    layer.clone().shutdown().await;
    assert_eq!(layer.stats().connections_open, 0);
    assert!(closed_within(&mut client, WAIT).await);
    assert!(TcpStream::connect(tcp).await.is_err(), "no longer listening");
    let error = layer.send(&target(Transport::Udp, udp), bytes(request("after"))).await.unwrap_err();
    assert!(matches!(error, TransportError::ShutDown { .. }), "{error}");
    let error = layer.send(&target(Transport::Tcp, tcp), bytes(request("after"))).await.unwrap_err();
    assert!(matches!(error, TransportError::ShutDown { .. }), "{error}");
    // Every sender is gone: the core's receive loop ends.
    assert!(inbound.recv().await.is_none());
    layer.shutdown().await;
}

#[tokio::test]
async fn bind_errors_name_the_address() {
    let (layer, _inbound) = bind(&config(&[Transport::Tcp])).await;
    let taken = layer.local_addr(Transport::Tcp).unwrap();
    let config = TransportConfig { tcp: vec![taken], ..TransportConfig::default() };
    let error = TransportLayer::bind(&config).await.err().unwrap().to_string();
    assert!(error.starts_with(&format!("cannot listen for tcp on {taken}: ")), "{error}");
    assert_eq!(layer.local_addr(Transport::Udp), None);
}

/// A browser is reached over the connection it opened, never a new one.
#[tokio::test]
async fn websocket_clients_are_never_connected_to() {
    let (layer, _inbound) = bind(&config(&[])).await;
    let error = layer.send(&target(Transport::Wss, "127.0.0.1:443".parse().unwrap()), bytes(vec![])).await;
    assert_eq!(
        error.unwrap_err().to_string(),
        "cannot send over wss to 127.0.0.1:443: the client's WebSocket connection is closed"
    );
}
