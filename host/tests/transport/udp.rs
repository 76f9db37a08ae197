use sipwarden::transport::{Flow, Transport, TransportConfig};
use tokio::net::UdpSocket;

use super::*;

#[tokio::test]
async fn round_trip() {
    let (layer, mut inbound) = bind(&config(&[Transport::Udp])).await;
    let server = layer.local_addr(Transport::Udp).unwrap();
    assert_ne!(server.port(), 0);
    let client = UdpSocket::bind(loopback()).await.unwrap();

    // Leading line breaks are not part of the message.
    client.send_to(&[b"\r\n".as_slice(), &request("u1")].concat(), server).await.unwrap();
    let message = next(&mut inbound).await;
    assert_eq!(message.bytes, request("u1"));
    assert_eq!(message.origin.transport, Transport::Udp);
    assert_eq!(message.origin.source, client.local_addr().unwrap());
    assert_eq!(message.origin.tls_peer, None);
    assert_eq!(message.flow, Flow::Datagram);

    layer.send(&target(Transport::Udp, message.origin.source), bytes(response("u1"))).await.unwrap();
    let mut buffer = [0; 2048];
    let (len, from) = tokio::time::timeout(WAIT, client.recv_from(&mut buffer)).await.unwrap().unwrap();
    assert_eq!(&buffer[..len], response("u1"));
    assert_eq!(from, server, "sent from the listening socket");

    let stats = layer.stats();
    assert_eq!((stats.datagrams_in, stats.datagrams_out), (1, 1));
    assert_eq!(stats.bytes_out, response("u1").len() as u64);
}

#[tokio::test]
async fn garbage_is_delivered_oversize_and_keep_alives_are_not() {
    let config = TransportConfig { max_message_bytes: 500, ..config(&[Transport::Udp]) };
    let (layer, mut inbound) = bind(&config).await;
    let server = layer.local_addr(Transport::Udp).unwrap();
    let client = UdpSocket::bind(loopback()).await.unwrap();

    client.send_to(&[b'x'; 501], server).await.unwrap();
    client.send_to(b"\r\n\r\n", server).await.unwrap();
    client.send_to(b"not SIP at all", server).await.unwrap();
    assert_eq!(&next(&mut inbound).await.bytes[..], b"not SIP at all");
    client.send_to(&[b'y'; 500], server).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes.len(), 500, "exactly the limit is accepted");
    nothing(&mut inbound).await;
    let stats = layer.stats();
    assert_eq!((stats.datagrams_in, stats.datagrams_dropped), (4, 1));
}

#[tokio::test]
async fn sending_needs_a_socket_of_the_family() {
    let (layer, _inbound) = bind(&config(&[Transport::Udp])).await;
    let error = layer.send(&target(Transport::Udp, "[::1]:5060".parse().unwrap()), bytes(response("x"))).await;
    assert_eq!(
        error.unwrap_err().to_string(),
        "cannot send over udp to [::1]:5060: no udp listener of that address family"
    );
}
