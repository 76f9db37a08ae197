//! The transport layer as the proxy core sees it: bind the listeners, hand
//! each framed message to a [`Handler`] (or a channel), send to a
//! [`Target`], shut down.
//!
//! Every listener and connection runs as its own task. The tasks share one
//! [`Shared`]; the parts of it that exist only while the layer runs (the
//! inbound channel, the UDP sockets) sit in [`Live`], which shutdown takes
//! away, so a task that starts late finds the layer stopped rather than
//! half-running.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

use super::stats::{Counters, LogThrottle};
use super::stream::ConnectionTable;
use super::tls::{self, TlsServer};
use super::{Origin, Transport, TransportConfig, TransportError, TransportStats, stream, udp};

/// Messages received but not yet taken by the proxy core. When it falls this
/// far behind, connections stop being read and the kernel buffers fill: the
/// peers are slowed down rather than the proxy's memory growing.
const INBOUND_QUEUE: usize = 1024;

/// The proxy's listeners and connections. Cheap to clone: clones share them.
#[derive(Clone)]
pub struct TransportLayer {
    shared: Arc<Shared>,
}

/// One received message, whole (or one datagram, which may not be SIP at all:
/// the proxy decides whether it can answer it).
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The message as received, leading keep-alive CRLFs removed.
    pub bytes: Bytes,
    /// The hop it came from.
    pub origin: Origin,
    /// The connection it came on, to send a response back over.
    pub flow: Flow,
}

/// The connection a message came on (for responses and RFC 5626 flows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// A UDP datagram: there is no connection, responses go to an address.
    Datagram,
    /// A TCP, TLS or WebSocket connection, open or since closed.
    Stream(ConnectionId),
}

/// A stream connection, unique for the life of the layer (ids are not reused,
/// so a stale id never reaches another peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(super) u64);

impl fmt::Debug for TransportLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportLayer").field("local", &self.shared.local).finish_non_exhaustive()
    }
}

impl ConnectionId {
    /// The id as a number, for state kept outside the transport (a
    /// registrar binding remembers the connection a client registered over).
    pub fn raw(self) -> u64 {
        self.0
    }

    /// An id kept as a number. Ids are never reused, so a stale one finds no
    /// connection and the send falls back to the target address.
    pub fn from_raw(raw: u64) -> ConnectionId {
        ConnectionId(raw)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where [`TransportLayer::send`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The transport to send over.
    pub transport: Transport,
    /// The next hop's address: where a datagram goes, or a new connection is
    /// opened to.
    pub addr: SocketAddr,
    /// The connection to prefer, if still open (and of `transport`).
    pub flow: Option<ConnectionId>,
    /// For a new outbound TLS connection: the name sent as SNI and checked
    /// against the server's certificate. `None`: the certificate must be
    /// issued for `addr`'s IP address.
    pub server_name: Option<String>,
}

/// What the listener and connection tasks share.
pub(super) struct Shared {
    pub config: TransportConfig,
    pub counters: Counters,
    pub connections: Arc<ConnectionTable>,
    pub tls_server: Option<TlsServer>,
    pub tls_client: Option<TlsConnector>,
    pub logs: Logs,
    /// Bound addresses, in configuration order.
    local: Vec<(Transport, SocketAddr)>,
    /// `None` once shut down.
    live: Mutex<Option<Live>>,
    /// Ends when every task has ended; shutdown waits on it.
    tasks_ended: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// Set to `true` once: every task stops at that point.
    stopping: watch::Sender<bool>,
}

/// Takes each received message on the task that read it (a UDP socket's,
/// a connection's), which reads nothing more until the call returns. The
/// proxy core decides and forwards most requests right there, so a request
/// costs no hand-off between threads; whatever has to wait (a capability
/// that blocks, a DNS look-up) it moves to a task of its own.
pub type Handler = Arc<dyn Fn(Inbound) + Send + Sync>;

/// Where received messages go.
#[derive(Clone)]
pub(super) enum Sink {
    /// Queued for a consumer task (`TransportLayer::bind`); when it falls
    /// behind, reading stops and the kernel buffers fill.
    Channel(mpsc::Sender<Inbound>),
    Handler(Handler),
}

impl Sink {
    /// `Err` once the consumer has gone: the reading task then ends.
    pub async fn deliver(&self, inbound: Inbound) -> Result<(), Gone> {
        match self {
            Sink::Channel(channel) => channel.send(inbound).await.map_err(|_| Gone),
            Sink::Handler(handler) => {
                handler(inbound);
                Ok(())
            }
        }
    }
}

/// The consumer of received messages has gone.
#[derive(Debug)]
pub(super) struct Gone;

/// A bound layer whose listeners are not read yet: [`Listeners::start`]
/// says where their messages go. Splitting the two lets the consumer hold
/// the layer (to send) before the first message arrives.
#[must_use = "nothing is received until the listeners are started"]
pub struct Listeners {
    shared: Arc<Shared>,
    udp: Vec<Arc<UdpSocket>>,
    streams: Vec<(Transport, TcpListener)>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners").field("local", &self.shared.local).finish_non_exhaustive()
    }
}

impl Listeners {
    /// Start reading: every message goes to `handler`, on the task that read it.
    pub fn start(self, handler: Handler) {
        self.start_with(Sink::Handler(handler));
    }

    /// Start reading into a channel of `INBOUND_QUEUE` messages.
    pub fn into_channel(self) -> mpsc::Receiver<Inbound> {
        let (sender, receiver) = mpsc::channel(INBOUND_QUEUE);
        self.start_with(Sink::Channel(sender));
        receiver
    }

    fn start_with(self, sink: Sink) {
        let Listeners { shared, udp, streams } = self;
        match shared.live().as_mut() {
            Some(live) => live.sink = Some(sink),
            // Shut down before it started: nothing to read.
            None => return,
        }
        for socket in udp {
            shared.spawn(udp::receive(shared.clone(), socket));
        }
        for (transport, listener) in streams {
            shared.spawn(stream::accept(shared.clone(), listener, transport));
        }
    }
}

/// What exists only while the layer runs.
struct Live {
    /// Set when the listeners start.
    sink: Option<Sink>,
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    /// Each task holds a clone; `tasks_ended` sees them all dropped.
    task_alive: mpsc::Sender<()>,
}

/// One throttle per kind of complaint about peers (see [`LogThrottle`]).
pub(super) struct Logs {
    pub refused: LogThrottle,
    pub framing: LogThrottle,
    pub oversize_datagram: LogThrottle,
    pub socket_error: LogThrottle,
}

impl TransportLayer {
    /// Bind every listener. Inbound messages arrive on the returned receiver,
    /// framed: one whole SIP message each (or one datagram), with leading
    /// keep-alive CRLFs consumed and stream pings answered (RFC 5626 §4.4.1).
    /// TLS is set up first, so a bad certificate fails before any port is taken.
    pub async fn bind(config: &TransportConfig) -> Result<(TransportLayer, mpsc::Receiver<Inbound>), TransportError> {
        let (layer, listeners) = TransportLayer::open(config).await?;
        Ok((layer, listeners.into_channel()))
    }

    /// Bind every listener without reading from it yet: see [`Listeners`].
    pub async fn open(config: &TransportConfig) -> Result<(TransportLayer, Listeners), TransportError> {
        let tls_server = if config.tls.is_empty() && config.wss.is_empty() { None } else { Some(tls::server(config)?) };
        let tls_client = config.outbound_ca.as_deref().map(tls::client).transpose()?;

        let mut local = Vec::new();
        let mut udp = Vec::new();
        for &addr in &config.udp {
            let error = |source| TransportError::Bind { transport: Transport::Udp, addr, source };
            let socket = UdpSocket::bind(addr).await.map_err(error)?;
            let bound = socket.local_addr().map_err(error)?;
            local.push((Transport::Udp, bound));
            udp.push((bound, Arc::new(socket)));
        }
        let mut listeners = Vec::new();
        let streams = [
            (Transport::Tcp, &config.tcp),
            (Transport::Tls, &config.tls),
            (Transport::Ws, &config.ws),
            (Transport::Wss, &config.wss),
        ];
        for (transport, addrs) in streams {
            for &addr in addrs {
                let error = |source| TransportError::Bind { transport, addr, source };
                let listener = TcpListener::bind(addr).await.map_err(error)?;
                local.push((transport, listener.local_addr().map_err(error)?));
                listeners.push((transport, listener));
            }
        }

        let (task_alive, tasks_ended) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            config: config.clone(),
            counters: Counters::default(),
            connections: Arc::new(ConnectionTable::new(config.max_connections)),
            tls_server,
            tls_client,
            logs: Logs {
                refused: LogThrottle::new(),
                framing: LogThrottle::new(),
                oversize_datagram: LogThrottle::new(),
                socket_error: LogThrottle::new(),
            },
            local,
            live: Mutex::new(Some(Live { sink: None, udp: udp.clone(), task_alive })),
            tasks_ended: tokio::sync::Mutex::new(tasks_ended),
            stopping: watch::Sender::new(false),
        });
        // Bound is listening: the kernel queues what arrives until the
        // listeners start.
        for (transport, addr) in &shared.local {
            tracing::info!(%transport, %addr, "listening");
        }
        let udp = udp.into_iter().map(|(_, socket)| socket).collect();
        let listeners = Listeners { shared: shared.clone(), udp, streams: listeners };
        Ok((TransportLayer { shared }, listeners))
    }

    /// The address actually bound for a transport (the first, if several),
    /// to put in Via and Record-Route; it tells the port when 0 was asked for.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.shared.local.iter().find(|(t, _)| *t == transport).map(|(_, addr)| *addr)
    }

    /// The certificate the TLS listeners present, e.g. to pin or inspect the
    /// generated development certificate. `None` without TLS listeners.
    pub fn tls_certificate(&self) -> Option<rustls_pki_types::CertificateDer<'static>> {
        self.shared.tls_server.as_ref().map(|server| server.certificate.clone())
    }

    /// Send one message.
    ///
    /// UDP goes from the listening socket of the target's address family, so
    /// replies come back to a port the proxy listens on. TCP and TLS go over
    /// `target.flow` if it is still open (a response over the connection its
    /// request came on, RFC 3261 §18.2.2; a request to a registered client
    /// over the client's own connection, RFC 5626), else over any open
    /// connection to `target.addr` of that transport, else over a new
    /// outbound connection, whose incoming messages then arrive as
    /// [`Inbound`] like any other's. WebSocket clients are reached only over
    /// connections they opened (RFC 7118 §5): there is no new outbound one.
    pub async fn send(&self, target: &Target, bytes: Bytes) -> Result<(), TransportError> {
        match target.transport {
            Transport::Udp => udp::send(&self.shared, target.addr, &bytes).await,
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                stream::send(&self.shared, target, &bytes).await
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> TransportStats {
        self.shared.counters.snapshot(self.shared.connections.open())
    }

    /// Stop listening and close every connection; returns once all of them
    /// are closed. The inbound receiver then ends, and sending fails.
    /// Dropping the last handle does not do this: the tasks hold the sockets.
    pub async fn shutdown(&self) {
        self.shared.stopping.send_replace(true);
        drop(self.shared.live().take());
        // Every task holds a sender; recv() returns None once all are gone.
        while self.shared.tasks_ended.lock().await.recv().await.is_some() {}
    }
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, Option<Live>> {
        // The lock is only held to clone or take fields: a panic cannot leave them half-changed.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `task` until it ends or the layer shuts down, whichever is first;
    /// shutdown waits for it. Returns false, dropping `task`, if the layer is
    /// already shut down.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> bool {
        let Some(alive) = self.live().as_ref().map(|live| live.task_alive.clone()) else { return false };
        let mut stopping = self.stopping.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
            drop(alive);
        });
        true
    }

    /// Where received messages go; `None` once shut down (or not started).
    pub fn inbound(&self) -> Option<Sink> {
        self.live().as_ref().and_then(|live| live.sink.clone())
    }

    /// The UDP socket to send to `addr` from.
    pub fn udp_socket_for(&self, addr: SocketAddr) -> Result<Arc<UdpSocket>, TransportError> {
        let live = self.live();
        let live = live.as_ref().ok_or(TransportError::ShutDown { transport: Transport::Udp, addr })?;
        live.udp
            .iter()
            .find(|(local, _)| local.is_ipv4() == addr.is_ipv4())
            .map(|(_, socket)| socket.clone())
            .ok_or(TransportError::NoUdpListener { addr })
    }
}
