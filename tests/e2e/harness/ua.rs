//! A SIP user agent on a raw UDP socket: sends requests that it can re-send
//! with digest credentials (a new CSeq in the same call), and plays a UAS
//! that answers what the proxy forwards to it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::digest::{self, Credentials};
use super::sip::{self, Message, unique};

/// A request being put together; rendered anew (fresh branch) on each send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    pub uri: String,
    /// `UDP`, `TCP` or `TLS`: the Via transport.
    pub transport: String,
    /// The From line, with its tag.
    pub from: String,
    pub call_id: String,
    pub cseq: u32,
    /// Further header lines (`To:` replaces the default To).
    pub extra: Vec<String>,
    pub body: String,
}

impl Outgoing {
    /// A request from `from` (an address such as `<sip:alice@127.0.0.1>`,
    /// given a fresh tag), to `uri`, over UDP.
    pub fn new(method: &str, uri: &str, from: &str) -> Outgoing {
        Outgoing {
            method: method.to_string(),
            uri: uri.to_string(),
            transport: "UDP".to_string(),
            from: format!("From: {from};tag={}", unique("t")),
            call_id: unique("c"),
            cseq: 1,
            extra: Vec::new(),
            body: String::new(),
        }
    }

    pub fn transport(mut self, transport: &str) -> Outgoing {
        self.transport = transport.to_string();
        self
    }

    pub fn header(mut self, line: &str) -> Outgoing {
        self.extra.push(line.to_string());
        self
    }

    pub fn body(mut self, content_type: &str, body: &str) -> Outgoing {
        self.extra.push(format!("Content-Type: {content_type}"));
        self.body = body.to_string();
        self
    }

    /// The request as sent from `local`, with a fresh Via branch.
    pub fn render(&self, local: SocketAddr) -> String {
        let call_id = format!("Call-ID: {}", self.call_id);
        let cseq = format!("CSeq: {} {}", self.cseq, self.method);
        let mut lines: Vec<&str> = vec![&self.from, &call_id, &cseq];
        lines.extend(self.extra.iter().map(String::as_str));
        sip::request(&self.method, &self.uri, &self.transport, local, &lines, &self.body)
    }

    /// The same request with the credentials that answer `challenge` (a
    /// 401 or 407), in the next CSeq of the call.
    pub fn answering(&self, challenge: &Message, credentials: Credentials<'_>) -> Outgoing {
        let mut next = self.clone();
        next.extra.retain(|line| !line.starts_with("Authorization:") && !line.starts_with("Proxy-Authorization:"));
        next.extra.push(digest::answer(challenge, credentials, &self.method, &self.uri));
        next.cseq += 1;
        next
    }
}

/// A user agent on a UDP socket of its own.
pub struct Ua {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    /// Where its requests go.
    pub proxy: SocketAddr,
}

impl Ua {
    /// A UA on a free port of `ip` (any address of 127.0.0.0/8 is on `lo`).
    pub fn bind(ip: IpAddr, proxy: SocketAddr) -> Ua {
        let socket = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind a UDP socket on {ip}: {e}"));
        let local = socket.local_addr().expect("local address");
        Ua { socket, local, proxy }
    }

    /// `sip:USER@IP:PORT`, this UA as a Contact.
    pub fn contact(&self, user: &str) -> String {
        format!("<sip:{user}@{}>", self.local)
    }

    pub fn send_text(&self, text: &str) {
        self.socket.send_to(text.as_bytes(), self.proxy).unwrap_or_else(|e| panic!("send to {}: {e}", self.proxy));
    }

    /// The next message from anyone within `limit`, with its source.
    pub fn receive(&self, limit: Duration) -> Option<(Message, SocketAddr)> {
        let deadline = Instant::now() + limit;
        let mut buffer = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).expect("set a read timeout");
            let (n, from) = self.socket.recv_from(&mut buffer).ok()?;
            if let Some(message) = Message::parse(&buffer[..n]) {
                return Some((message, from));
            }
        }
    }

    /// Send `text` and return the final response to it (matched by Call-ID
    /// and CSeq), retransmitting after 0.5, 1 and 2 s like RFC 3261 timer E.
    /// Other messages that arrive meanwhile are dropped.
    pub fn exchange_text(&self, text: &str) -> Result<Message, String> {
        let request = Message::parse(text.as_bytes()).expect("a request we built parses");
        let (call_id, cseq) = (request.call_id().unwrap_or_default(), request.header("CSeq").unwrap_or_default());
        let mut seen = Vec::new();
        for wait in [500, 1000, 2000] {
            self.send_text(text);
            let deadline = Instant::now() + Duration::from_millis(wait);
            while let Some((message, _)) = self.receive(deadline.saturating_duration_since(Instant::now())) {
                let ours = message.call_id() == Some(call_id) && message.header("CSeq") == Some(cseq);
                if !ours || message.status().is_none() {
                    continue;
                }
                if message.is_final() {
                    return Ok(message);
                }
                seen.push(message.start);
            }
        }
        Err(format!("no final response to `{}` within 3.5 s (provisional: {seen:?})", request.start))
    }

    /// Send a request and return its final response; a failure if none came.
    pub fn exchange(&self, request: &Outgoing) -> Message {
        self.exchange_text(&request.render(self.local)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Send a request that is challenged (asserted: 401 or 407), answer the
    /// challenge, and return (the challenge, the final response to the
    /// request with credentials).
    pub fn exchange_authenticated(&self, request: &Outgoing, credentials: Credentials<'_>) -> (Message, Message) {
        let challenge = self.exchange(request);
        assert!(
            matches!(challenge.status(), Some(401 | 407)),
            "{} {} without credentials: expected a 401/407 challenge, got `{}`",
            request.method,
            request.uri,
            challenge.start
        );
        let response = self.exchange(&request.answering(&challenge, credentials));
        (challenge, response)
    }

    /// As a UAS: the next request within `limit` (responses are dropped).
    pub fn next_request(&self, limit: Duration) -> Option<(Message, SocketAddr)> {
        let deadline = Instant::now() + limit;
        loop {
            let (message, from) = self.receive(deadline.saturating_duration_since(Instant::now()))?;
            if message.status().is_none() {
                return Some((message, from));
            }
        }
    }

    /// As a UAS: answer `request` (received from `from`) with `status`.
    pub fn respond(&self, request: &Message, from: SocketAddr, status: u16, reason: &str) {
        let text = sip::response_to(request, status, reason);
        self.socket.send_to(text.as_bytes(), from).unwrap_or_else(|e| panic!("send to {from}: {e}"));
    }
}
