//! Where messages come from and go to.
//!
//! This module names the transports and the identity of the hop a message
//! arrived from; policies decide on that, never on what a message claims
//! about itself.
//!
//! [`TransportLayer`] carries SIP over UDP, TCP and TLS (RFC 3261 §18), and
//! over WebSocket (RFC 7118):
//! - `config`: what to listen on and the limits peers are held to;
//! - `layer`: the API the proxy core uses: bind, receive, send, shut down;
//! - `udp`, `stream`: one datagram per message; messages framed out of a
//!   connection by Content-Length, keep-alives (RFC 5626), timeouts, the
//!   connection limit;
//! - `websocket`: the handshake and one SIP message per WebSocket message,
//!   on the stream connections' table and limits;
//! - `tls`: certificates, trust roots and the peer identity in [`Origin`];
//! - `stats`, `error`: counters for the admin API, and what can fail.

mod config;
mod error;
mod layer;
mod stats;
mod stream;
mod tls;
mod udp;
mod websocket;

pub use config::{LimitsConfig, ListenConfig, TlsConfig, TlsIdentity, TransportConfig};
pub use error::TransportError;
pub use layer::{ConnectionId, Flow, Handler, Inbound, Listeners, Target, TransportLayer};
pub use stats::TransportStats;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::Serialize;

/// A SIP transport (RFC 3261 §18, RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP: one message per datagram.
    Udp,
    /// TCP: messages framed out of the connection by Content-Length.
    Tcp,
    /// TLS over TCP, framed as TCP is; the transport of `sips:` URIs.
    Tls,
    /// WebSocket (RFC 7118): one message per WebSocket message, over a
    /// connection the client opened.
    Ws,
    /// WebSocket over TLS (RFC 7118).
    Wss,
}

impl Transport {
    /// The token used in a Via header (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Whether the transport protects the message on the wire.
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.via_token().to_ascii_lowercase())
    }
}

/// The name of an unknown transport.
#[derive(Debug, thiserror::Error)]
#[error("unknown transport `{0}` (expected udp, tcp, tls, ws or wss)")]
pub struct UnknownTransport(String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            "tls" => Ok(Transport::Tls),
            "ws" => Ok(Transport::Ws),
            "wss" => Ok(Transport::Wss),
            _ => Err(UnknownTransport(s.to_string())),
        }
    }
}

/// What a peer's TLS certificate says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsPeer {
    /// The certificate subject, RFC 4514 form.
    pub subject: String,
    /// subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// subjectAltName URIs.
    pub uris: Vec<String>,
}

/// The hop a message arrived from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The transport the message arrived over.
    pub transport: Transport,
    /// The peer's address and port as the socket saw it: the previous hop,
    /// whatever the message's Via claims (what `received` and `rport` record,
    /// RFC 3261 §18.2.1, RFC 3581).
    pub source: SocketAddr,
    /// Present only over TLS when the peer presented a certificate.
    pub tls_peer: Option<TlsPeer>,
}
