use std::time::Duration;

use sipwarden::transport::{Flow, Target, Transport, TransportConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::*;

async fn tcp_layer(config: &TransportConfig) -> (TransportLayer, Receiver<Inbound>, SocketAddr) {
    let (layer, inbound) = bind(config).await;
    let addr = layer.local_addr(Transport::Tcp).unwrap();
    (layer, inbound, addr)
}

#[tokio::test]
async fn two_messages_in_one_write() {
    let (_layer, mut inbound, server) = tcp_layer(&config(&[Transport::Tcp])).await;
    let mut client = TcpStream::connect(server).await.unwrap();
    client.write_all(&[request("a"), request("b")].concat()).await.unwrap();
    let (first, second) = (next(&mut inbound).await, next(&mut inbound).await);
    assert_eq!(first.bytes, request("a"));
    assert_eq!(second.bytes, request("b"));
    assert_eq!(first.origin.source, client.local_addr().unwrap());
    assert_eq!(first.origin.transport, Transport::Tcp);
    assert!(matches!(first.flow, Flow::Stream(_)));
    assert_eq!(first.flow, second.flow);
}

#[tokio::test]
async fn one_message_over_many_writes() {
    let (_layer, mut inbound, server) = tcp_layer(&config(&[Transport::Tcp])).await;
    let mut client = TcpStream::connect(server).await.unwrap();
    client.set_nodelay(true).unwrap();
    for chunk in request("split").chunks(16) {
        client.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(next(&mut inbound).await.bytes, request("split"));
    nothing(&mut inbound).await;
}

#[tokio::test]
async fn keep_alive_ping_is_answered() {
    let (_layer, mut inbound, server) = tcp_layer(&config(&[Transport::Tcp])).await;
    let mut client = TcpStream::connect(server).await.unwrap();
    client.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
    // A pong from the client, then a message: only the message is delivered.
    client.write_all(&[b"\r\n".as_slice(), &request("after-ping")].concat()).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, request("after-ping"));
}

#[tokio::test]
async fn a_stalled_message_is_closed_and_others_are_served() {
    let config = TransportConfig { header_timeout: Duration::from_millis(200), ..config(&[Transport::Tcp]) };
    let (layer, mut inbound, server) = tcp_layer(&config).await;
    let mut stalled = TcpStream::connect(server).await.unwrap();
    let message = request("stalled");
    stalled.write_all(&message[..message.len() / 2]).await.unwrap();

    let mut other = TcpStream::connect(server).await.unwrap();
    other.write_all(&request("served")).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, request("served"));

    let start = tokio::time::Instant::now();
    assert!(closed_within(&mut stalled, Duration::from_secs(1)).await);
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(layer.stats().connections_timed_out, 1);
    // The other connection is still open and served.
    other.write_all(&request("still")).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, request("still"));
}

#[tokio::test]
async fn idle_connections_are_closed_but_keep_alives_keep_them() {
    let config = TransportConfig { idle_timeout: Duration::from_millis(300), ..config(&[Transport::Tcp]) };
    let (layer, _inbound, server) = tcp_layer(&config).await;
    let mut idle = TcpStream::connect(server).await.unwrap();
    let mut kept = TcpStream::connect(server).await.unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        kept.write_all(b"\r\n\r\n").await.unwrap();
        assert_eq!(read_exactly(&mut kept, 2).await, b"\r\n");
    }
    assert!(closed_within(&mut idle, Duration::from_millis(100)).await, "idle for 500 ms");
    assert!(!closed_within(&mut kept, Duration::from_millis(10)).await);
    assert_eq!(layer.stats().connections_timed_out, 1);
}

#[tokio::test]
async fn framing_errors_close_only_that_connection() {
    let config = TransportConfig { max_message_bytes: 1000, ..config(&[Transport::Tcp]) };
    let (layer, mut inbound, server) = tcp_layer(&config).await;
    let mut good = TcpStream::connect(server).await.unwrap();

    // Declares more than the limit: closed on the header, before any body.
    let mut oversize = TcpStream::connect(server).await.unwrap();
    oversize.write_all(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut oversize, WAIT).await);
    // A header section that never ends.
    let mut endless = TcpStream::connect(server).await.unwrap();
    endless.write_all(&[b'x'; 1000]).await.unwrap();
    assert!(closed_within(&mut endless, WAIT).await);
    // No Content-Length: the end of the message cannot be known.
    let mut unframed = TcpStream::connect(server).await.unwrap();
    unframed.write_all(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut unframed, WAIT).await);

    good.write_all(&request("good")).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, request("good"));
    nothing(&mut inbound).await;
    assert_eq!(layer.stats().framing_errors, 3);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let config = TransportConfig { max_connections: 100, ..config(&[Transport::Tcp]) };
    let (layer, mut inbound, server) = tcp_layer(&config).await;
    let mut clients = Vec::new();
    for _ in 0..300 {
        clients.push(TcpStream::connect(server).await.unwrap());
    }
    eventually(|| {
        let stats = layer.stats();
        stats.connections_accepted + stats.connections_refused == 300
    })
    .await;
    let stats = layer.stats();
    assert_eq!((stats.connections_accepted, stats.connections_refused, stats.connections_open), (100, 200, 100));

    // The first 100 were accepted, the others closed at once.
    assert!(!closed_within(&mut clients[99], Duration::from_millis(10)).await);
    for refused in &mut clients[100..] {
        assert!(closed_within(refused, WAIT).await);
    }
    // Closing some makes room for a new client.
    clients.truncate(90);
    eventually(|| layer.stats().connections_open == 90).await;
    let mut late = TcpStream::connect(server).await.unwrap();
    late.write_all(&request("late")).await.unwrap();
    assert_eq!(next(&mut inbound).await.bytes, request("late"));
}

#[tokio::test]
async fn a_response_goes_back_over_the_connection_of_its_request() {
    let (layer, mut inbound, server) = tcp_layer(&config(&[Transport::Tcp])).await;
    let mut first = TcpStream::connect(server).await.unwrap();
    let mut second = TcpStream::connect(server).await.unwrap();
    second.write_all(&request("second")).await.unwrap();
    let request = next(&mut inbound).await;
    let Flow::Stream(flow) = request.flow else { panic!("a stream flow") };

    // The flow wins over the address (which here points nowhere useful).
    let elsewhere = Target { flow: Some(flow), ..target(Transport::Tcp, "127.0.0.1:9".parse().unwrap()) };
    layer.send(&elsewhere, bytes(response("second"))).await.unwrap();
    assert_eq!(read_exactly(&mut second, response("second").len()).await, response("second"));
    assert!(!closed_within(&mut first, Duration::from_millis(20)).await, "nothing arrives on the other one");
    assert_eq!(layer.stats().connections_opened, 0);
}

#[tokio::test]
async fn outbound_connections_are_reused_and_read() {
    let (layer, mut inbound) = bind(&config(&[])).await;
    let upstream = TcpListener::bind(loopback()).await.unwrap();
    let addr = upstream.local_addr().unwrap();

    layer.send(&target(Transport::Tcp, addr), bytes(request("out-1"))).await.unwrap();
    let (mut connection, _) = upstream.accept().await.unwrap();
    layer.send(&target(Transport::Tcp, addr), bytes(request("out-2"))).await.unwrap();
    let expected = [request("out-1"), request("out-2")].concat();
    assert_eq!(read_exactly(&mut connection, expected.len()).await, expected);

    // What the upstream sends back arrives like any inbound message.
    connection.write_all(&response("out-1")).await.unwrap();
    let message = next(&mut inbound).await;
    assert_eq!(message.bytes, response("out-1"));
    assert_eq!(message.origin.source, addr);
    assert!(matches!(message.flow, Flow::Stream(_)));

    let no_second = tokio::time::timeout(Duration::from_millis(50), upstream.accept()).await;
    assert!(no_second.is_err(), "the connection was reused");
    let stats = layer.stats();
    assert_eq!((stats.connections_opened, stats.connections_open), (1, 1));
}

#[tokio::test]
async fn connect_failures_name_the_target() {
    let (layer, _inbound) = bind(&config(&[])).await;
    // Bound and then dropped: nothing listens there.
    let closed = TcpListener::bind(loopback()).await.unwrap().local_addr().unwrap();
    let error = layer.send(&target(Transport::Tcp, closed), bytes(request("x"))).await.unwrap_err();
    assert!(error.to_string().starts_with(&format!("cannot connect over tcp to {closed}: ")), "{error}");
    assert_eq!(layer.stats().connections_open, 0);
}
