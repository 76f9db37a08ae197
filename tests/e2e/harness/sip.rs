//! Just enough SIP for the tests: build a request, frame and read a response,
//! and exchange one request over UDP or TCP with blocking sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token unique in this test run, for Call-IDs, tags and branches.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A request as a UA sends it: fresh Call-ID, tag and branch, `Via` naming
/// `local` (with `rport`), `To` the Request-URI, Content-Length from `body`.
/// `extra` are further header lines, e.g. `"Contact: <sip:alice@127.0.0.1:5062>"`;
/// an extra `From:` or `To:` line replaces the default one.
pub fn request(method: &str, uri: &str, transport: &str, local: SocketAddr, extra: &[&str], body: &str) -> String {
    let to = uri.split(';').next().unwrap_or(uri);
    let defaults = [
        format!("Via: SIP/2.0/{transport} {local};branch={};rport", unique("z9hG4bKe2e")),
        "Max-Forwards: 70".to_string(),
        format!("From: <sip:e2e@127.0.0.1>;tag={}", unique("t")),
        format!("To: <{to}>"),
        format!("Call-ID: {}", unique("c")),
        format!("CSeq: 1 {method}"),
    ];
    let name = |line: &str| line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
    let overridden = |line: &String| extra.iter().any(|e| name(e) == name(line));
    let mut text = format!("{method} {uri} SIP/2.0\r\n");
    for line in defaults.iter().filter(|line| !overridden(line)).map(String::as_str).chain(extra.iter().copied()) {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

/// A response (or request) as read off the wire.
#[derive(Debug, Clone)]
pub struct Message {
    /// The start line.
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// Parse one complete message; `None` if the bytes are not SIP-shaped.
    pub fn parse(bytes: &[u8]) -> Option<Message> {
        let end = find(bytes, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let (_, value) = headers.last_mut()?;
                value.push(' ');
                value.push_str(line.trim());
            } else {
                let (name, value) = line.split_once(':')?;
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Some(Message { start, headers, body: bytes[end + 4..].to_vec() })
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The reason phrase, for a response.
    pub fn reason(&self) -> &str {
        self.start.splitn(3, ' ').nth(2).unwrap_or("")
    }

    pub fn is_final(&self) -> bool {
        self.status().is_some_and(|s| s >= 200)
    }

    /// The first value of a header (case-insensitive; compact forms too).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    pub fn headers_named(&self, name: &str) -> impl Iterator<Item = &str> {
        let compact = compact_form(name);
        let name = name.to_string();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
            .map(|(_, v)| v.as_str())
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }
}

fn compact_form(name: &str) -> Option<&'static str> {
    let forms = [("Call-ID", "i"), ("Via", "v"), ("From", "f"), ("To", "t"), ("Content-Length", "l"), ("Contact", "m")];
    forms.iter().find(|(long, _)| long.eq_ignore_ascii_case(name)).map(|(_, short)| *short)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Take one complete message off the front of a stream buffer, framed by its
/// Content-Length (0 when absent). Leading CRLF keep-alives are skipped.
pub fn take_message(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let skip = buffer.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    buffer.drain(..skip);
    let end = find(buffer, b"\r\n\r\n")? + 4;
    let head = Message::parse(&buffer[..end])?;
    let length: usize = head.header("Content-Length").and_then(|l| l.parse().ok()).unwrap_or(0);
    if buffer.len() < end + length {
        return None;
    }
    Some(buffer.drain(..end + length).collect())
}

/// What happened to a stream we read from.
#[derive(Debug)]
pub enum Received {
    Message(Message),
    /// The peer closed the connection (or reset it).
    Closed,
    /// Nothing complete arrived in time.
    TimedOut,
}

/// Read the next message from a blocking stream within `limit`.
pub fn read_stream(stream: &mut TcpStream, buffer: &mut Vec<u8>, limit: Duration) -> Received {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(bytes) = take_message(buffer) {
            return match Message::parse(&bytes) {
                Some(message) => Received::Message(message),
                None => Received::Closed,
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Received::TimedOut;
        }
        stream.set_read_timeout(Some(left)).expect("set a read timeout");
        let mut chunk = [0u8; 65536];
        match stream.read(&mut chunk) {
            Ok(0) => return Received::Closed,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Received::TimedOut;
            }
            Err(_) => return Received::Closed,
        }
    }
}

/// Read datagrams on `socket` until a final response arrives, or `limit`.
/// Provisional responses are returned too, in order, before the final one.
pub fn read_datagrams_until_final(socket: &UdpSocket, limit: Duration) -> Vec<Message> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buffer = vec![0u8; 65536];
    while let Some(left) = Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero()) {
        socket.set_read_timeout(Some(left)).expect("set a read timeout");
        let Ok(n) = socket.recv(&mut buffer) else { break };
        if let Some(message) = Message::parse(&buffer[..n]) {
            let done = message.is_final();
            seen.push(message);
            if done {
                break;
            }
        }
    }
    seen
}

/// Send a request built for the socket's local address over UDP to `to` and
/// return the final response, or an error that says what arrived instead.
/// Like a UA (RFC 3261 timer E), it retransmits after 0.5, 1 and 2 s: a
/// datagram may be lost to a full socket buffer while the proxy is flooded.
pub fn udp_exchange(to: SocketAddr, build: impl FnOnce(SocketAddr) -> String) -> Result<Message, String> {
    let socket = UdpSocket::bind((super::LOOPBACK, 0)).expect("bind a UDP socket");
    let request = build(socket.local_addr().expect("local address"));
    let mut seen = Vec::new();
    for wait in [500, 1000, 2000] {
        socket.send_to(request.as_bytes(), to).map_err(|e| format!("send to {to}: {e}"))?;
        seen.extend(read_datagrams_until_final(&socket, Duration::from_millis(wait)));
        if seen.last().is_some_and(Message::is_final) {
            break;
        }
    }
    final_of(seen, &format!("udp {to}"))
}

/// As [`udp_exchange`], over a new TCP connection.
pub fn tcp_exchange(to: SocketAddr, build: impl FnOnce(SocketAddr) -> String) -> Result<Message, String> {
    let mut stream =
        TcpStream::connect_timeout(&to, Duration::from_secs(2)).map_err(|e| format!("connect to tcp {to}: {e}"))?;
    let request = build(stream.local_addr().expect("local address"));
    stream.write_all(request.as_bytes()).map_err(|e| format!("write to tcp {to}: {e}"))?;
    let mut buffer = Vec::new();
    let mut seen = Vec::new();
    loop {
        match read_stream(&mut stream, &mut buffer, Duration::from_secs(2)) {
            Received::Message(m) if m.is_final() => return Ok(m),
            Received::Message(m) => seen.push(m),
            Received::Closed => return Err(format!("tcp {to} closed the connection after {}", starts(&seen))),
            Received::TimedOut => {
                return Err(format!("no final response from tcp {to} within 2 s after {}", starts(&seen)));
            }
        }
    }
}

fn final_of(seen: Vec<Message>, from: &str) -> Result<Message, String> {
    match seen.last() {
        Some(last) if last.is_final() => Ok(last.clone()),
        _ => Err(format!("no final response from {from} within 3.5 s after {}", starts(&seen))),
    }
}

fn starts(seen: &[Message]) -> String {
    if seen.is_empty() {
        return "nothing".to_string();
    }
    seen.iter().map(|m| format!("`{}`", m.start)).collect::<Vec<_>>().join(", ")
}

/// An OPTIONS to the proxy itself (`sip:ip:port`), which it answers 200.
pub fn options_to(target: SocketAddr, transport: &str) -> impl FnOnce(SocketAddr) -> String {
    let uri = format!("sip:{target};transport={}", transport.to_ascii_lowercase());
    let transport = transport.to_string();
    move |local| request("OPTIONS", &uri, &transport, local, &[], "")
}

/// The response a UAS sends to `request`: its Vias, From, To (with a tag),
/// Call-ID and CSeq.
pub fn response_to(request: &Message, status: u16, reason: &str) -> String {
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for via in request.headers_named("Via") {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let to = request.header("To").unwrap_or_default();
    let to = if to.contains(";tag=") { to.to_string() } else { format!("{to};tag={}", unique("uas")) };
    for (name, value) in [
        ("From", request.header("From").unwrap_or_default()),
        ("To", to.as_str()),
        ("Call-ID", request.call_id().unwrap_or_default()),
        ("CSeq", request.header("CSeq").unwrap_or_default()),
    ] {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text
}
