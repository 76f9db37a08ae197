//! A SIP user agent over WebSocket (RFC 7118), blocking, as a browser's SIP
//! stack behaves: it offers the `sip` subprotocol, names a random `.invalid`
//! host in its Via and Contact (it has no address anyone can reach), and
//! sends one SIP message per WebSocket text message. Over `wss` it verifies
//! the proxy's certificate against the test CA.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message as Frame, WebSocket};

use super::digest::Credentials;
use super::sip::{self, Message, unique};
use super::tls_client::client_config;
use super::ua::Outgoing;

/// The connection under the WebSocket: plain for `ws`, TLS for `wss`.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// A browser-like SIP user agent on one WebSocket connection.
pub struct WsUa {
    pub socket: WebSocket<Stream>,
    /// The `.invalid` host of its Via and Contact.
    pub host: String,
    /// `WS` or `WSS`, for the Via.
    pub transport: &'static str,
}

impl WsUa {
    /// Connect to a `ws` listener (`ca: None`) or a `wss` one whose
    /// certificate the CA issued for 127.0.0.1.
    pub fn connect(addr: SocketAddr, ca: Option<&CertificateDer<'static>>) -> Result<WsUa, tungstenite::Error> {
        WsUa::connect_with(addr, ca, Some("sip"), None)
    }

    /// As [`WsUa::connect`], offering `protocol` and sending `origin`.
    pub fn connect_with(
        addr: SocketAddr,
        ca: Option<&CertificateDer<'static>>,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsUa, tungstenite::Error> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        let (scheme, stream) = match ca {
            None => ("ws", Stream::Plain(tcp)),
            Some(ca) => {
                let name = ServerName::try_from(addr.ip().to_string()).expect("an IP address is a server name");
                let connection = ClientConnection::new(client_config(ca), name).expect("a TLS client");
                ("wss", Stream::Tls(Box::new(StreamOwned::new(connection, tcp))))
            }
        };
        let mut request = format!("{scheme}://{addr}/").into_client_request()?;
        if let Some(protocol) = protocol {
            request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol).expect("a value"));
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", HeaderValue::from_str(origin).expect("a value"));
        }
        let (socket, _) = tungstenite::client(request, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(error) => error,
            tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
        })?;
        let transport = if scheme == "wss" { "WSS" } else { "WS" };
        Ok(WsUa { socket, host: format!("{}.invalid", unique("b")), transport })
    }

    /// The Contact of `user` on this browser: the `.invalid` host, with the
    /// transport (RFC 7118 §5.2).
    pub fn contact(&self, user: &str) -> String {
        format!("<sip:{user}@{};transport={}>", self.host, self.transport.to_ascii_lowercase())
    }

    /// Send text as one WebSocket message.
    pub fn send_text(&mut self, text: &str) {
        self.socket.send(Frame::text(text)).expect("send over the WebSocket");
    }

    /// The next SIP message within `limit`; `None` on a timeout or a close.
    pub fn receive(&mut self, limit: Duration) -> Option<Message> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.get_ref().tcp().set_read_timeout(Some(left)).ok()?;
            match self.socket.read() {
                Ok(Frame::Text(text)) => return Message::parse(text.as_bytes()),
                Ok(Frame::Binary(bytes)) => return Message::parse(&bytes),
                Ok(Frame::Close(_)) => return None,
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Whether the proxy closed the connection within `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let _ = self.socket.get_ref().tcp().set_read_timeout(Some(left));
            match self.socket.read() {
                Ok(Frame::Close(_)) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return true;
                }
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    return false;
                }
                Err(_) => return true,
                Ok(_) => continue,
            }
        }
        false
    }

    /// The request as this browser sends it: its Via names the `.invalid`
    /// host over WS or WSS.
    pub fn render(&self, request: &Outgoing) -> String {
        let placeholder: SocketAddr = "192.0.2.1:9".parse().expect("an address");
        let text = request.clone().transport(self.transport).render(placeholder);
        text.replacen(&placeholder.to_string(), &self.host, 1)
    }

    /// Send a request and return its final response (a stream is reliable:
    /// no retransmission).
    pub fn exchange(&mut self, request: &Outgoing) -> Message {
        let text = self.render(request);
        let sent = Message::parse(text.as_bytes()).expect("a request we built parses");
        self.send_text(&text);
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some(message) = self.receive(deadline.saturating_duration_since(Instant::now())) {
            let ours = message.call_id() == sent.call_id() && message.header("CSeq") == sent.header("CSeq");
            if ours && message.is_final() {
                return message;
            }
        }
        panic!("no final response over {} to `{}` within 5 s", self.transport, sent.start);
    }

    /// Send a request that is challenged, answer the challenge; return the
    /// challenge and the final response.
    pub fn exchange_authenticated(&mut self, request: &Outgoing, credentials: Credentials<'_>) -> (Message, Message) {
        let challenge = self.exchange(request);
        assert!(matches!(challenge.status(), Some(401 | 407)), "expected a challenge, got `{}`", challenge.start);
        let response = self.exchange(&request.answering(&challenge, credentials));
        (challenge, response)
    }

    /// As a UAS: the next request within `limit`.
    pub fn next_request(&mut self, limit: Duration) -> Option<Message> {
        let deadline = Instant::now() + limit;
        loop {
            let message = self.receive(deadline.saturating_duration_since(Instant::now()))?;
            if message.status().is_none() {
                return Some(message);
            }
        }
    }

    /// As a UAS: answer `request` with `status`.
    pub fn respond(&mut self, request: &Message, status: u16, reason: &str) {
        let text = sip::response_to(request, status, reason);
        self.send_text(&text);
    }
}
