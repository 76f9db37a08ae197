//! SIP over WebSocket (RFC 7118), for browsers' SIP stacks: the handshake
//! (the `sip` subprotocol, the allowed origins), then one SIP message per
//! WebSocket message, text or binary, each way.
//!
//! tungstenite does the WebSocket protocol: fragmented messages are put
//! back together, pings are answered, a close is echoed, and a message
//! over `max-message-bytes` is an error before it is buffered whole. This
//! file holds what RFC 7118 adds and the limits shared with TCP: a slot in
//! the connection table, the handshake within `header-timeout-ms` (a peer
//! that stalls it holds a slot), the idle timeout, and a close with 1009
//! (message too big) when a peer sends more than the limit.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;

use super::layer::{Flow, Inbound, Shared, Sink};
use super::stats::{add, bump};
use super::stream::{Closed, Connection, Slot, Writer};
use super::{Origin, TransportConfig};

/// The WebSocket subprotocol of SIP (RFC 7118 §4.1).
const SUBPROTOCOL: &str = "sip";

/// What tungstenite reads into per connection before a message is whole.
/// Its default, 128 KiB allocated up front, would make ten thousand idle
/// browsers cost 1.25 GiB; SIP messages are a few KiB.
const READ_BUFFER: usize = 4 * 1024;

/// Why a WebSocket handshake was refused: the HTTP answer the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The client did not offer the `sip` subprotocol.
    NoSubprotocol,
    /// The page's origin is not in `[listen] ws-origins`.
    Origin(String),
}

impl Refusal {
    fn response(&self) -> ErrorResponse {
        let (status, text) = match self {
            Refusal::NoSubprotocol => {
                (StatusCode::BAD_REQUEST, "the WebSocket subprotocol `sip` is required (RFC 7118)")
            }
            Refusal::Origin(_) => (StatusCode::FORBIDDEN, "this origin may not open SIP WebSocket connections"),
        };
        let mut response = ErrorResponse::new(Some(text.to_string()));
        *response.status_mut() = status;
        response
    }
}

/// Check the upgrade request, and agree on the `sip` subprotocol.
fn check(config: &TransportConfig, request: &Request) -> Result<(), Refusal> {
    let offers_sip = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !offers_sip {
        return Err(Refusal::NoSubprotocol);
    }
    if !config.ws_origins.is_empty() {
        let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or_default();
        // Origins are scheme://host[:port], whose scheme and host compare
        // without regard to case (RFC 6454 §4).
        if !config.ws_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) {
            return Err(Refusal::Origin(origin.to_string()));
        }
    }
    Ok(())
}

/// The WebSocket protocol's settings: the message limit of every
/// transport, and small buffers (see [`READ_BUFFER`]).
fn protocol_config(config: &TransportConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes))
}

/// Complete the WebSocket handshake on an accepted connection (its TLS
/// handshake done for `wss`), then read SIP messages off it until it closes.
pub(super) async fn serve<S>(shared: &Arc<Shared>, stream: S, origin: Origin, slot: Slot, inbound: Sink)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let peer = origin.source;
    let mut refused = None;
    // The error type is tungstenite's (its `Callback` answers with a whole
    // HTTP response), large or not.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| match check(&shared.config, request) {
        Ok(()) => {
            response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
            Ok(response)
        }
        Err(refusal) => {
            let answer = refusal.response();
            refused = Some(refusal);
            Err(answer)
        }
    };
    // Boxed: the handshake's state is freed once it is done (see `stream::serve_accepted`).
    let accept = Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(protocol_config(&shared.config)),
    ));
    let socket = match timeout(shared.config.header_timeout, accept).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => {
            bump(&shared.counters.connections_refused);
            return match refused {
                Some(Refusal::Origin(page)) => debug!(%peer, origin = %page, "WebSocket refused: origin not allowed"),
                Some(Refusal::NoSubprotocol) => debug!(%peer, "WebSocket refused: no `sip` subprotocol"),
                None => debug!(%peer, %error, "WebSocket handshake failed"),
            };
        }
        Err(_) => {
            bump(&shared.counters.connections_timed_out);
            return debug!(%peer, "WebSocket handshake not finished in time");
        }
    };
    let (writer, reader) = socket.split();
    let connection = slot.register(&origin, Writer::Messages(Box::new(writer)));
    let closed = tokio::select! {
        closed = read_messages(shared, &connection, reader, origin, inbound) => closed,
        () = connection.closing.notified() => Closed::ByUs,
    };
    closed.log(shared, &connection);
    drop(slot);
}

/// Deliver each WebSocket message as one SIP message, until the peer
/// closes, breaks the protocol, goes idle or sends too much.
async fn read_messages<R>(
    shared: &Shared,
    connection: &Connection,
    mut reader: R,
    origin: Origin,
    inbound: Sink,
) -> Closed
where
    R: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let config = &shared.config;
    loop {
        let deadline = connection.last_activity() + config.idle_timeout;
        let next = match timeout_at(deadline.into(), reader.next()).await {
            Ok(next) => next,
            // A write since the deadline was set moved it: wait on.
            Err(_) if connection.last_activity() + config.idle_timeout > std::time::Instant::now() => continue,
            Err(_) => return Closed::IdleTimeout,
        };
        let bytes: Bytes = match next {
            None => return Closed::ByPeer { unfinished: 0 },
            Some(Ok(Message::Text(text))) => Bytes::from(text),
            Some(Ok(Message::Binary(bytes))) => bytes,
            // tungstenite answers pings and echoes the close itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                connection.touch();
                continue;
            }
            Some(Ok(Message::Close(_))) => {
                // tungstenite has queued the echo of the close; send it.
                connection.flush_websocket(config.header_timeout).await;
                return Closed::ByPeer { unfinished: 0 };
            }
            Some(Err(tungstenite::Error::Capacity(_))) => {
                let frame = CloseFrame { code: CloseCode::Size, reason: "SIP message too large".into() };
                connection.close_websocket(frame, config.header_timeout).await;
                return Closed::TooBig;
            }
            Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                return Closed::ByPeer { unfinished: 0 };
            }
            Some(Err(tungstenite::Error::Io(error))) => return Closed::Error(error),
            Some(Err(error)) => return Closed::WebSocket(error),
        };
        connection.touch();
        add(&shared.counters.bytes_in, bytes.len());
        let message = Inbound { bytes, origin: origin.clone(), flow: Flow::Stream(connection.id) };
        if inbound.deliver(message).await.is_err() {
            return Closed::ByUs;
        }
    }
}

/// A SIP message as a WebSocket message: text when it is UTF-8, as SIP
/// messages nearly always are (RFC 7118 §5.3), else binary.
pub(super) fn message(bytes: &[u8]) -> Message {
    match std::str::from_utf8(bytes) {
        Ok(text) => Message::text(text),
        Err(_) => Message::binary(bytes.to_vec()),
    }
}

/// A failed WebSocket write, as the byte streams' writes fail.
pub(super) fn io_error(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(error) => error,
        error => io::Error::other(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str], origin: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/");
        for protocol in protocols {
            builder = builder.header(header::SEC_WEBSOCKET_PROTOCOL, *protocol);
        }
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn the_sip_subprotocol_is_required() {
        let config = TransportConfig::default();
        assert_eq!(check(&config, &request(&["sip"], None)), Ok(()));
        assert_eq!(check(&config, &request(&["chat, SIP"], None)), Ok(()));
        assert_eq!(check(&config, &request(&["chat", "sip"], None)), Ok(()));
        assert_eq!(check(&config, &request(&[], None)), Err(Refusal::NoSubprotocol));
        assert_eq!(check(&config, &request(&["sips", "xmpp"], None)), Err(Refusal::NoSubprotocol));
    }

    #[test]
    fn listed_origins_only_when_a_list_is_given() {
        let mut config = TransportConfig::default();
        assert_eq!(check(&config, &request(&["sip"], Some("https://evil.example"))), Ok(()));
        config.ws_origins = vec!["https://app.example.com".into()];
        assert_eq!(check(&config, &request(&["sip"], Some("HTTPS://APP.example.com"))), Ok(()));
        let other = check(&config, &request(&["sip"], Some("https://evil.example")));
        assert_eq!(other, Err(Refusal::Origin("https://evil.example".into())));
        assert_eq!(check(&config, &request(&["sip"], None)), Err(Refusal::Origin(String::new())));
    }

    #[test]
    fn messages_are_text_unless_they_are_not_utf8() {
        assert!(matches!(message(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), Message::Text(_)));
        assert!(matches!(message(b"MESSAGE sip:x SIP/2.0\r\n\r\n\xff"), Message::Binary(_)));
    }
}
