//! What can go wrong when binding or sending. Each message names the
//! transport, the address and what failed, so it reads on its own in a log.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::Transport;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("cannot listen for {transport} on {addr}: {source}")]
    Bind { transport: Transport, addr: SocketAddr, source: io::Error },

    /// A certificate, key or CA file could not be read or holds nothing usable.
    #[error("cannot use the TLS {what} {}: {reason}", path.display())]
    TlsFile { what: &'static str, path: PathBuf, reason: String },

    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),

    #[error("cannot send to {addr}: {transport} is not supported by this proxy")]
    Unsupported { transport: Transport, addr: SocketAddr },

    /// UDP is sent from a listening socket, so its source is where replies come back to.
    #[error("cannot send over udp to {addr}: no udp listener of that address family")]
    NoUdpListener { addr: SocketAddr },

    #[error("cannot connect over tls to {addr}: no [tls] outbound-ca is configured to verify upstream certificates")]
    NoOutboundCa { addr: SocketAddr },

    #[error("cannot connect over tls to {addr}: `{name}` is not a valid server name")]
    InvalidServerName { addr: SocketAddr, name: String },

    #[error("cannot connect over {transport} to {addr}: the limit of {limit} open connections is reached")]
    ConnectionLimit { transport: Transport, addr: SocketAddr, limit: usize },

    /// Covers the TCP connect, the TLS handshake and their timeout.
    #[error("cannot connect over {transport} to {addr}: {source}")]
    Connect { transport: Transport, addr: SocketAddr, source: io::Error },

    #[error("cannot send over {transport} to {addr}: {source}")]
    Send { transport: Transport, addr: SocketAddr, source: io::Error },

    #[error("cannot send over {transport} to {addr}: the transport layer is shut down")]
    ShutDown { transport: Transport, addr: SocketAddr },
}
