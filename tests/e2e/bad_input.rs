//! Hostile and broken input does not stop the proxy: after each attack it
//! still answers OPTIONS over UDP and over TCP.

mod harness;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use harness::netns::in_private_network;
use harness::proxy::{Config, Sipwarden};
use harness::sip::{self, Message};
use harness::{LOOPBACK, wait_until};

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// One datagram: random bytes, random text, a valid request cut short or
    /// with bytes flipped, or a start line followed by junk headers.
    fn datagram(&mut self, valid: &[u8]) -> Vec<u8> {
        match self.below(5) {
            0 => {
                let len = 1 + self.below(1400);
                self.bytes(len)
            }
            1 => (0..1 + self.below(600)).map(|_| b" :;\r\nSIPVia/2.0abc<>@"[self.below(20)]).collect(),
            2 => valid[..self.below(valid.len())].to_vec(),
            3 => {
                let mut flipped = valid.to_vec();
                for _ in 0..1 + self.below(8) {
                    let at = self.below(flipped.len());
                    flipped[at] = self.next() as u8;
                }
                flipped
            }
            _ => {
                let mut text = b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n".to_vec();
                for _ in 0..self.below(40) {
                    let len = self.below(80);
                    text.extend(self.bytes(len));
                    text.extend(b"\r\n");
                }
                text
            }
        }
    }
}

/// Garbage can be mistaken for a request with a Via naming any address, and
/// an unparsable request is answered at its Via: the test runs in a private
/// network namespace so that nothing it provokes can leave the machine.
#[test]
fn a_thousand_garbage_datagrams_leave_the_proxy_serving() {
    in_private_network("a_thousand_garbage_datagrams_leave_the_proxy_serving", || {
        let mut proxy = Sipwarden::start(&Config::registrar());
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket");
        let valid = sip::request("OPTIONS", "sip:bob@127.0.0.1", "UDP", socket.local_addr().unwrap(), &[], "");
        let mut garbage = Garbage(0x5eed_0f51_97a4_de00);
        for _ in 0..1000 {
            let datagram = garbage.datagram(valid.as_bytes());
            if !datagram.is_empty() {
                socket.send_to(&datagram, proxy.udp).expect("send a datagram");
            }
        }
        proxy.assert_serving("1,000 garbage datagrams");
    });
}

/// With `max-message-bytes = 4096`, a 10,000-byte OPTIONS whose first
/// kilobyte holds every header a response needs is not processed: it is
/// answered 513 Message Too Large or dropped (sipwarden drops it: the kernel
/// cuts a datagram to the receive buffer), never answered otherwise. Over
/// TCP, where it cannot be framed, the connection is closed.
#[test]
fn an_oversize_message_is_refused() {
    let mut proxy = Sipwarden::start(&Config::registrar().limit("max-message-bytes", 4096));
    let padding = format!("X-Padding: {}", "p".repeat(10_000));
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket");
    let oversize = sip::request("OPTIONS", "sip:bob@127.0.0.1", "UDP", socket.local_addr().unwrap(), &[&padding], "");
    socket.send_to(oversize.as_bytes(), proxy.udp).expect("send the oversize datagram");
    let answers = sip::read_datagrams_until_final(&socket, Duration::from_secs(1));
    let statuses: Vec<Option<u16>> = answers.iter().map(Message::status).collect();
    assert!(statuses.is_empty() || statuses == [Some(513)], "the oversize datagram was answered {statuses:?}");

    let mut stream = TcpStream::connect(proxy.tcp).expect("connect");
    let oversize = sip::request("OPTIONS", "sip:bob@127.0.0.1", "TCP", stream.local_addr().unwrap(), &[&padding], "");
    let _ = stream.write_all(oversize.as_bytes());
    let mut buffer = Vec::new();
    let mut outcome = sip::read_stream(&mut stream, &mut buffer, Duration::from_secs(2));
    if let sip::Received::Message(response) = &outcome {
        assert_eq!(response.status(), Some(513), "the oversize message over TCP was answered `{}`", response.start);
        outcome = sip::read_stream(&mut stream, &mut buffer, Duration::from_secs(2));
    }
    assert!(matches!(outcome, sip::Received::Closed), "the connection was not closed: {outcome:?}");
    proxy.assert_serving("an oversize datagram and an oversize TCP message");
}

/// A TCP peer that sends half a message and stalls is disconnected once
/// `header-timeout-ms` has passed; a connection that has sent nothing yet
/// is only subject to the idle timeout and stays usable.
#[test]
fn a_stalled_tcp_peer_is_closed_after_the_header_timeout() {
    let mut proxy = Sipwarden::start(&Config::registrar().limit("header-timeout-ms", 500));
    let mut idle = TcpStream::connect(proxy.tcp).expect("connect");
    let mut stalled = TcpStream::connect(proxy.tcp).expect("connect");
    let half = sip::request("OPTIONS", "sip:bob@127.0.0.1", "TCP", stalled.local_addr().unwrap(), &[], "");
    stalled.write_all(&half.as_bytes()[..half.len() / 2]).expect("send half a message");
    let started = Instant::now();

    stalled.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    let outcome = stalled.read(&mut byte);
    let elapsed = started.elapsed();
    assert!(
        matches!(outcome, Ok(0)) || outcome.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled connection was not closed within 5 s: {outcome:?}"
    );
    assert!(
        (Duration::from_millis(400)..Duration::from_millis(2500)).contains(&elapsed),
        "closed after {elapsed:?}, header-timeout-ms is 500"
    );

    let options = sip::options_to(proxy.tcp, "TCP")(idle.local_addr().unwrap());
    idle.write_all(options.as_bytes()).expect("the idle connection is still open");
    match sip::read_stream(&mut idle, &mut Vec::new(), Duration::from_secs(2)) {
        sip::Received::Message(response) => assert_eq!(response.status(), Some(200), "got `{}`", response.start),
        other => panic!("OPTIONS on the connection that was idle: {other:?}"),
    }
    proxy.assert_serving("a stalled TCP peer");
}

/// 200 connections at once against `max-connections = 50`: at most 50 are
/// served, the others are refused or closed, and once they are gone new
/// connections are served again.
#[test]
fn connections_beyond_max_connections_are_refused() {
    let mut proxy = Sipwarden::start(&Config::registrar().limit("max-connections", 50));
    let connections: Vec<TcpStream> = (0..200).filter_map(|_| TcpStream::connect(proxy.tcp).ok()).collect();
    let target = proxy.tcp;
    let served = std::thread::scope(|scope| {
        let asks: Vec<_> = connections
            .iter()
            .map(|connection| {
                scope.spawn(move || {
                    let mut connection = connection.try_clone().expect("clone a stream");
                    let options = sip::options_to(target, "TCP")(connection.local_addr().expect("local address"));
                    if connection.write_all(options.as_bytes()).is_err() {
                        return None;
                    }
                    match sip::read_stream(&mut connection, &mut Vec::new(), Duration::from_secs(3)) {
                        sip::Received::Message(response) => Some(response),
                        _ => None,
                    }
                })
            })
            .collect();
        asks.into_iter().filter_map(|ask| ask.join().expect("a thread")).collect::<Vec<Message>>()
    });
    assert!(!served.is_empty(), "none of the 200 connections was served");
    assert!(served.len() <= 50, "{} connections were served with max-connections = 50", served.len());
    assert!(served.iter().all(|r| r.status() == Some(200)), "an OPTIONS got something else than 200");

    drop(connections);
    let serving_again = wait_until(Duration::from_secs(10), || proxy.options_over_tcp().is_ok());
    assert!(serving_again, "no TCP OPTIONS was answered within 10 s after the connections closed");
    proxy.assert_serving("200 connections against max-connections = 50");
}
