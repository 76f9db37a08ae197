//! Stream transports, TCP and TLS (RFC 3261 §18.3): accepting and opening
//! connections, keeping count of them, and cutting messages out of them.
//! WebSocket connections (`websocket.rs`) are accepted here too and share
//! the table, the limits and the writers; only their framing differs.
//!
//! Each connection is read by one task and written by whoever sends: the
//! read half belongs to the task, the write half sits behind a lock in the
//! [`ConnectionTable`], where [`send`] finds it by id or by peer address.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures_util::SinkExt;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite;
use tracing::{debug, info, warn};

use super::layer::{Flow, Inbound, Shared, Sink, Target};
use super::stats::{add, bump};
use super::{ConnectionId, Origin, Transport, TransportError, tls, websocket};
use crate::sip::{Frame, ParseError, frame};

/// How much is read from a connection at a time.
const READ_CHUNK: usize = 8 * 1024;

/// The pause after a failed accept (typically: out of file descriptors), so
/// the listener does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The answer to a CRLFCRLF keep-alive ping (RFC 5626 §4.4.1).
const PONG: &[u8] = b"\r\n";

/// The open stream connections, and the count that `max_connections` limits.
pub(super) struct ConnectionTable {
    limit: usize,
    /// Slots taken, which includes connections still in their TLS handshake.
    open: AtomicUsize,
    next_id: AtomicU64,
    /// Connections past their handshake, which can be written to. Few
    /// enough (`max_connections`) that looking one up by peer is a scan.
    entries: Mutex<HashMap<ConnectionId, Arc<Connection>>>,
}

/// A place in the table, held for the whole life of a connection; dropping
/// it removes the connection and frees the place.
pub(super) struct Slot {
    table: Arc<ConnectionTable>,
    id: ConnectionId,
}

/// A connection as senders see it.
pub(super) struct Connection {
    pub id: ConnectionId,
    pub transport: Transport,
    pub peer: SocketAddr,
    writer: tokio::sync::Mutex<Writer>,
    /// Tells the reading task to close the connection (after a failed write).
    pub closing: Notify,
    opened: Instant,
    /// Milliseconds after `opened` of the last read or write.
    last_activity: AtomicU64,
    /// Reading has ended; the connection only finishes answering what it
    /// delivered, and is not chosen for new requests.
    draining: AtomicBool,
}

/// Where a connection's messages are written.
pub(super) enum Writer {
    /// TCP and TLS: the bytes, on the stream.
    Bytes(Box<dyn AsyncWrite + Send + Unpin>),
    /// WebSocket: one SIP message per WebSocket message (RFC 7118 §5).
    Messages(Box<dyn futures_util::Sink<tungstenite::Message, Error = tungstenite::Error> + Send + Unpin>),
}

impl Writer {
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Writer::Bytes(writer) => {
                writer.write_all(bytes).await?;
                writer.flush().await
            }
            Writer::Messages(sink) => sink.send(websocket::message(bytes)).await.map_err(websocket::io_error),
        }
    }
}

impl ConnectionTable {
    pub fn new(limit: usize) -> Self {
        ConnectionTable { limit, open: AtomicUsize::new(0), next_id: AtomicU64::new(1), entries: Mutex::default() }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<ConnectionId, Arc<Connection>>> {
        // Only inserts and removes happen under the lock: a panic cannot leave the map inconsistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more connection, unless the limit is reached.
    fn reserve(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.limit).then_some(open + 1))
            .ok()?;
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        Some(Slot { table: self.clone(), id })
    }

    /// The connection to send to `target` over, if one is open.
    fn find(&self, target: &Target) -> Option<Arc<Connection>> {
        let entries = self.entries();
        let flow = target.flow.and_then(|id| entries.get(&id)).filter(|c| c.transport == target.transport);
        flow.or_else(|| {
            entries.values().find(|c| {
                c.transport == target.transport && c.peer == target.addr && !c.draining.load(Ordering::Acquire)
            })
        })
        .cloned()
    }
}

impl Slot {
    /// Put the connection in the table, where senders find it.
    pub fn register(&self, origin: &Origin, writer: Writer) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.id,
            transport: origin.transport,
            peer: origin.source,
            writer: tokio::sync::Mutex::new(writer),
            closing: Notify::new(),
            opened: Instant::now(),
            last_activity: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        });
        self.table.entries().insert(self.id, connection.clone());
        connection
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.entries().remove(&self.id);
        self.table.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connection {
    /// Writes one whole message (or a pong); concurrent writers take turns, so
    /// messages never interleave. A peer that does not take the bytes within
    /// `limit` fails the write.
    pub async fn write(&self, bytes: &[u8], limit: Duration) -> io::Result<()> {
        let write = async { self.writer.lock().await.write(bytes).await };
        let result = match timeout(limit, write).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("the peer took no data for {limit:?}"))),
        };
        match &result {
            Ok(()) => self.touch(),
            // The stream's state is unknown after a failed write: close it.
            Err(_) => self.closing.notify_one(),
        }
        result
    }

    /// Send a WebSocket close frame (nothing on a byte stream), bounded by
    /// `limit`; the reading task ends the connection after it.
    pub async fn close_websocket(&self, frame: tungstenite::protocol::CloseFrame, limit: Duration) {
        let close = async {
            if let Writer::Messages(sink) = &mut *self.writer.lock().await {
                let _ = sink.send(tungstenite::Message::Close(Some(frame))).await;
            }
        };
        let _ = timeout(limit, close).await;
    }

    /// Write out what the WebSocket protocol queued itself (the echo of a
    /// peer's close), bounded by `limit`.
    pub async fn flush_websocket(&self, limit: Duration) {
        let flush = async {
            if let Writer::Messages(sink) = &mut *self.writer.lock().await {
                let _ = sink.flush().await;
            }
        };
        let _ = timeout(limit, flush).await;
    }

    pub fn touch(&self) {
        self.last_activity.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn last_activity(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_activity.load(Ordering::Relaxed))
    }
}

/// Accepts connections on one listener until the layer shuts down.
pub(super) async fn accept(shared: Arc<Shared>, listener: TcpListener, transport: Transport) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Some(suppressed) = shared.logs.socket_error.permit() {
                    warn!(%transport, %error, suppressed, "cannot accept a connection");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = shared.connections.reserve() else {
            bump(&shared.counters.connections_refused);
            if let Some(suppressed) = shared.logs.refused.permit() {
                let limit = shared.config.max_connections;
                warn!(%transport, %peer, limit, suppressed, "connection refused: too many open connections");
            }
            continue; // dropping `stream` closes it
        };
        bump(&shared.counters.connections_accepted);
        // Refused only while shutting down, when dropping the connection is right.
        shared.spawn(serve_accepted(shared.clone(), stream, peer, transport, slot));
    }
}

/// Completes the TLS handshake if any (and the WebSocket handshake on a
/// WebSocket listener), then reads the connection until it closes.
async fn serve_accepted(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, transport: Transport, slot: Slot) {
    // SIP messages are written whole; waiting to coalesce them only adds latency.
    let _ = stream.set_nodelay(true);
    let origin = |tls_peer| Origin { transport, source: peer, tls_peer };
    let secure = matches!(transport, Transport::Tls | Transport::Wss);
    // The handshakes and the serving are boxed: a task's future is as large
    // as its largest state, and a TLS handshake's is kilobytes that an idle
    // plain connection would otherwise hold for its whole life (ten
    // thousand idle connections took 338 MiB before, see bench/websocket).
    let Some(tls) = shared.tls_server.as_ref().filter(|_| secure) else {
        return Box::pin(serve(&shared, stream, origin(None), slot)).await;
    };
    // A peer that stalls the handshake holds a slot, so it gets the same limit as one stalling a message.
    let stream = match timeout(shared.config.header_timeout, Box::pin(tls.acceptor.accept(stream))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => {
            bump(&shared.counters.connections_timed_out);
            return debug!(%peer, "TLS handshake not finished in time");
        }
    };
    let tls_peer = tls::peer_identity(stream.get_ref().1.peer_certificates());
    Box::pin(serve(&shared, stream, origin(tls_peer), slot)).await;
}

async fn serve<S>(shared: &Arc<Shared>, stream: S, origin: Origin, slot: Slot)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(inbound) = shared.inbound() else { return };
    match origin.transport {
        Transport::Ws | Transport::Wss => websocket::serve(shared, stream, origin, slot, inbound).await,
        _ => open(shared, stream, origin, slot, inbound).1.await,
    }
}

/// Sends over an open connection to the target, or a new one.
pub(super) async fn send(shared: &Arc<Shared>, target: &Target, bytes: &[u8]) -> Result<(), TransportError> {
    let connection = match shared.connections.find(target) {
        Some(connection) => connection,
        None => connect(shared, target).await?,
    };
    let (transport, addr) = (connection.transport, connection.peer);
    connection.write(bytes, shared.config.header_timeout).await.map_err(|source| TransportError::Send {
        transport,
        addr,
        source,
    })?;
    add(&shared.counters.bytes_out, bytes.len());
    Ok(())
}

/// Opens an outbound connection and starts reading it. Two sends racing to
/// a target with no connection may open one each; both work, and later
/// sends use either.
async fn connect(shared: &Arc<Shared>, target: &Target) -> Result<Arc<Connection>, TransportError> {
    let Target { transport, addr, .. } = *target;
    if matches!(transport, Transport::Ws | Transport::Wss) {
        return Err(TransportError::NoWebSocket { transport, addr });
    }
    let inbound = shared.inbound().ok_or(TransportError::ShutDown { transport, addr })?;
    let slot = shared.connections.reserve().ok_or(TransportError::ConnectionLimit {
        transport,
        addr,
        limit: shared.config.max_connections,
    })?;
    let tls = match transport {
        Transport::Tls => {
            let connector = shared.tls_client.clone().ok_or(TransportError::NoOutboundCa { addr })?;
            let name = match &target.server_name {
                Some(name) => ServerName::try_from(name.clone())
                    .map_err(|_| TransportError::InvalidServerName { addr, name: name.clone() })?,
                None => ServerName::from(addr.ip()),
            };
            Some((connector, name))
        }
        _ => None,
    };
    let error = |source| TransportError::Connect { transport, addr, source };
    // One deadline for the TCP connect and the TLS handshake together.
    let limit = shared.config.connect_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let timed_out = |_| error(io::Error::new(io::ErrorKind::TimedOut, format!("not connected within {limit:?}")));
    let stream = timeout_at(deadline, TcpStream::connect(addr)).await.map_err(timed_out)?.map_err(error)?;
    let _ = stream.set_nodelay(true);
    let origin = |tls_peer| Origin { transport, source: addr, tls_peer };
    let connection = match tls {
        None => start(shared, stream, origin(None), slot, inbound),
        Some((connector, name)) => {
            let stream =
                timeout_at(deadline, connector.connect(name, stream)).await.map_err(timed_out)?.map_err(error)?;
            // The upstream's certificate is verified: its identity is worth passing on too.
            let tls_peer = tls::peer_identity(stream.get_ref().1.peer_certificates());
            start(shared, stream, origin(tls_peer), slot, inbound)
        }
    }
    .ok_or(TransportError::ShutDown { transport, addr })?;
    bump(&shared.counters.connections_opened);
    debug!(%transport, %addr, id = %connection.id, "connected");
    Ok(connection)
}

/// Registers an outbound connection and starts its reading task; `None` if
/// the layer has shut down meanwhile.
fn start<S>(shared: &Arc<Shared>, stream: S, origin: Origin, slot: Slot, inbound: Sink) -> Option<Arc<Connection>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (connection, reading) = open(shared, stream, origin, slot, inbound);
    shared.spawn(reading).then_some(connection)
}

/// Registers a connection in its slot. Returns it, and the future that reads
/// it into `inbound` until it closes (and holds the slot until then).
fn open<S>(
    shared: &Arc<Shared>,
    stream: S,
    origin: Origin,
    slot: Slot,
    inbound: Sink,
) -> (Arc<Connection>, impl Future<Output = ()> + Send + 'static)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let connection = slot.register(&origin, Writer::Bytes(Box::new(writer)));
    let shared = shared.clone();
    let reading = {
        let connection = connection.clone();
        async move {
            let closed = tokio::select! {
                closed = read_messages(&shared, &connection, reader, origin, inbound) => closed,
                () = connection.closing.notified() => Closed::ByUs,
            };
            if matches!(closed, Closed::Framing(_)) {
                // Reading is over, but the messages framed before the bad
                // bytes are still being answered: keep the connection for
                // those responses a little longer. It takes no new requests
                // meanwhile (see `ConnectionTable::find`).
                connection.draining.store(true, Ordering::Release);
                tokio::select! {
                    () = tokio::time::sleep(shared.config.header_timeout.min(LINGER)) => {}
                    () = connection.closing.notified() => {}
                }
            }
            closed.log(&shared, &connection);
            drop(slot);
        }
    };
    (connection, reading)
}

/// Longest a connection is kept for writes after its reading ended.
const LINGER: Duration = Duration::from_secs(2);

/// Why a connection was closed.
pub(super) enum Closed {
    /// The peer closed it, leaving that many bytes of an unfinished message.
    ByPeer {
        unfinished: usize,
    },
    Error(io::Error),
    /// A message was started and not finished within `header_timeout`.
    HeaderTimeout,
    IdleTimeout,
    /// The bytes cannot be framed, so the stream cannot be resynchronized.
    Framing(ParseError),
    /// A write failed, or the proxy core stopped taking messages.
    ByUs,
    /// A WebSocket message larger than `max-message-bytes`: closed with 1009.
    TooBig,
    /// The WebSocket protocol was broken (a bad frame, an unmasked one…).
    WebSocket(tungstenite::Error),
}

impl Closed {
    pub fn log(self, shared: &Shared, connection: &Connection) {
        let (transport, peer, id) = (connection.transport, connection.peer, connection.id);
        match self {
            Closed::ByPeer { unfinished: 0 } => debug!(%transport, %peer, %id, "connection closed by the peer"),
            Closed::ByPeer { unfinished } => {
                debug!(%transport, %peer, %id, unfinished, "connection closed by the peer in the middle of a message")
            }
            Closed::Error(error) => debug!(%transport, %peer, %id, %error, "connection failed"),
            Closed::HeaderTimeout => {
                bump(&shared.counters.connections_timed_out);
                debug!(%transport, %peer, %id, "connection closed: a message was not finished in time");
            }
            Closed::IdleTimeout => {
                bump(&shared.counters.connections_timed_out);
                debug!(%transport, %peer, %id, "connection closed: idle");
            }
            Closed::Framing(error) => {
                bump(&shared.counters.framing_errors);
                if let Some(suppressed) = shared.logs.framing.permit() {
                    info!(%transport, %peer, %id, %error, suppressed, "connection closed: cannot frame a message");
                }
            }
            Closed::ByUs => debug!(%transport, %peer, %id, "connection closed"),
            Closed::TooBig => {
                bump(&shared.counters.framing_errors);
                if let Some(suppressed) = shared.logs.framing.permit() {
                    let limit = shared.config.max_message_bytes;
                    info!(%transport, %peer, %id, limit, suppressed, "connection closed: a message over the size limit");
                }
            }
            Closed::WebSocket(error) => {
                bump(&shared.counters.framing_errors);
                if let Some(suppressed) = shared.logs.framing.permit() {
                    info!(%transport, %peer, %id, %error, suppressed, "connection closed: a WebSocket protocol error");
                }
            }
        }
    }
}

/// Reads messages off a connection and delivers them, answers keep-alive
/// pings, and enforces the size limit and the timeouts.
async fn read_messages<R>(
    shared: &Shared,
    connection: &Connection,
    mut reader: R,
    origin: Origin,
    inbound: Sink,
) -> Closed
where
    R: AsyncRead + Unpin,
{
    let config = &shared.config;
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    // When the first byte of the message now in `buffer` arrived.
    let mut started: Option<Instant> = None;
    loop {
        // Take out everything complete. `frame` fails as soon as the declared
        // or the buffered size passes the limit, before the rest is read.
        loop {
            match frame(&buffer, config.max_message_bytes) {
                Ok(Frame::Message(length)) => {
                    let bytes = buffer.split_to(length).freeze();
                    started = None;
                    let message = Inbound { bytes, origin: origin.clone(), flow: Flow::Stream(connection.id) };
                    if inbound.deliver(message).await.is_err() {
                        return Closed::ByUs;
                    }
                }
                Ok(Frame::KeepAlive(length)) => {
                    buffer.advance(length);
                    if length == 4 {
                        if let Err(error) = connection.write(PONG, config.header_timeout).await {
                            return Closed::Error(error);
                        }
                        add(&shared.counters.bytes_out, PONG.len());
                    }
                }
                Ok(Frame::Incomplete) => break,
                Err(error) => return Closed::Framing(error),
            }
        }
        // Line breaks alone may be the start of a ping, not of a message.
        if started.is_none() && buffer.iter().any(|byte| !matches!(byte, b'\r' | b'\n')) {
            started = Some(Instant::now());
        }
        let deadline = match started {
            Some(started) => started + config.header_timeout,
            None => connection.last_activity() + config.idle_timeout,
        };
        buffer.reserve(READ_CHUNK);
        match timeout_at(deadline.into(), reader.read_buf(&mut buffer)).await {
            Ok(Ok(0)) => return Closed::ByPeer { unfinished: buffer.len() },
            Ok(Ok(read)) => {
                add(&shared.counters.bytes_in, read);
                connection.touch();
            }
            Ok(Err(error)) => return Closed::Error(error),
            Err(_) if started.is_some() => return Closed::HeaderTimeout,
            // A write since the deadline was set moved it: wait on.
            Err(_) if connection.last_activity() + config.idle_timeout > Instant::now() => {}
            Err(_) => return Closed::IdleTimeout,
        }
    }
}
