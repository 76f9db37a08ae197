//! UDP (RFC 3261 §18.1.2, §18.2.1): one datagram is one message.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tracing::{debug, info};

use super::layer::{Flow, Inbound, Shared};
use super::stats::{add, bump};
use super::{Origin, Transport, TransportError};

/// Receives datagrams on one socket until the layer shuts down or the proxy
/// core stops taking messages.
pub(super) async fn receive(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let Some(inbound) = shared.inbound() else { return };
    let limit = shared.config.max_message_bytes;
    // One byte more than the limit: a datagram that fills it was too large
    // (the kernel cuts a datagram to the buffer, so it cannot be told otherwise).
    let mut buffer = vec![0; limit + 1];
    loop {
        let (length, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                if let Some(suppressed) = shared.logs.socket_error.permit() {
                    debug!(%error, suppressed, "cannot receive a datagram");
                }
                continue;
            }
        };
        bump(&shared.counters.datagrams_in);
        add(&shared.counters.bytes_in, length);
        if length > limit {
            bump(&shared.counters.datagrams_dropped);
            if let Some(suppressed) = shared.logs.oversize_datagram.permit() {
                info!(%source, limit, suppressed, "datagram dropped: larger than the message size limit");
            }
            continue;
        }
        // Line breaks before the start line are ignored (RFC 3261 §7.5); a
        // datagram of nothing else is a keep-alive and carries no message.
        let datagram = &buffer[..length];
        let Some(start) = datagram.iter().position(|byte| !matches!(byte, b'\r' | b'\n')) else { continue };
        let message = Inbound {
            bytes: Bytes::copy_from_slice(&datagram[start..]),
            origin: Origin { transport: Transport::Udp, source, tls_peer: None },
            flow: Flow::Datagram,
        };
        if inbound.deliver(message).await.is_err() {
            return;
        }
    }
}

/// Sends one datagram from the listening socket of `addr`'s address family.
pub(super) async fn send(shared: &Shared, addr: SocketAddr, bytes: &[u8]) -> Result<(), TransportError> {
    let socket = shared.udp_socket_for(addr)?;
    socket.send_to(bytes, addr).await.map_err(|source| TransportError::Send {
        transport: Transport::Udp,
        addr,
        source,
    })?;
    bump(&shared.counters.datagrams_out);
    add(&shared.counters.bytes_out, bytes.len());
    Ok(())
}
