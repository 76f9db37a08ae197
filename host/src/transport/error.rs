//! What can go wrong when binding or sending. Each message names the
//! transport, the address and what failed, so it reads on its own in a log.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::Transport;

/// Why the transport layer could not start, or could not send one message.
///
/// [`super::TransportLayer::open`] fails with the listening and TLS errors,
/// and the proxy does not start. The others are per message: the proxy core
/// logs them and carries on (a branch it could not send counts as answered
/// 503 by the unreachable hop, RFC 3261 §16.7).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A listening socket could not be bound (the address is in use, or not
    /// this host's, or the port needs privileges).
    #[error("cannot listen for {transport} on {addr}: {source}")]
    Bind {
        /// The transport the listener was for.
        transport: Transport,
        /// The address from `[listen]`.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },

    /// A certificate, key or CA file could not be read or holds nothing usable.
    #[error("cannot use the TLS {what} {}: {reason}", path.display())]
    TlsFile {
        /// Which file it is: "certificate file", "private key file",
        /// "client CA file" or "outbound CA file".
        what: &'static str,
        /// The file, as configured in `[tls]`.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },

    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),

    /// A WebSocket client is reached over the connection it opened, and
    /// that connection is gone (RFC 7118 §5: a proxy does not connect to
    /// browsers).
    #[error("cannot send over {transport} to {addr}: the client's WebSocket connection is closed")]
    NoWebSocket {
        /// `ws` or `wss`.
        transport: Transport,
        /// Where the message was to go.
        addr: SocketAddr,
    },

    /// UDP is sent from a listening socket, so its source is where replies come back to.
    #[error("cannot send over udp to {addr}: no udp listener of that address family")]
    NoUdpListener {
        /// Where the message was to go; no UDP listener is of its family
        /// (IPv4 or IPv6).
        addr: SocketAddr,
    },

    /// A new outbound TLS connection was needed but `[tls] outbound-ca` is
    /// not set: with no roots to verify the upstream against, the proxy does
    /// not connect at all.
    #[error("cannot connect over tls to {addr}: no [tls] outbound-ca is configured to verify upstream certificates")]
    NoOutboundCa {
        /// The upstream that was to be connected to.
        addr: SocketAddr,
    },

    /// The target's server name cannot be sent as SNI nor checked against a
    /// certificate: it is neither a DNS name nor an IP address.
    #[error("cannot connect over tls to {addr}: `{name}` is not a valid server name")]
    InvalidServerName {
        /// The upstream that was to be connected to.
        addr: SocketAddr,
        /// The name, as given in [`super::Target::server_name`].
        name: String,
    },

    /// A new outbound connection would exceed `[limits] max-connections`.
    #[error("cannot connect over {transport} to {addr}: the limit of {limit} open connections is reached")]
    ConnectionLimit {
        /// The stream transport of the connection.
        transport: Transport,
        /// The upstream that was to be connected to.
        addr: SocketAddr,
        /// The configured limit, inbound and outbound connections together.
        limit: usize,
    },

    /// Covers the TCP connect, the TLS handshake and their timeout.
    #[error("cannot connect over {transport} to {addr}: {source}")]
    Connect {
        /// The stream transport of the connection.
        transport: Transport,
        /// The upstream that was to be connected to.
        addr: SocketAddr,
        /// What failed: refused, timed out (`connect-timeout-ms`), or the
        /// handshake (an untrusted or mismatched certificate).
        source: io::Error,
    },

    /// Writing the message failed: a socket error, or a stream peer that did
    /// not take it within `header-timeout-ms`.
    #[error("cannot send over {transport} to {addr}: {source}")]
    Send {
        /// The transport written to.
        transport: Transport,
        /// The peer written to: for a stream, the connection's peer.
        addr: SocketAddr,
        /// What the write failed with.
        source: io::Error,
    },

    /// [`super::TransportLayer::shutdown`] has begun: nothing more is sent.
    #[error("cannot send over {transport} to {addr}: the transport layer is shut down")]
    ShutDown {
        /// The transport the message was for.
        transport: Transport,
        /// Where the message was to go.
        addr: SocketAddr,
    },
}
