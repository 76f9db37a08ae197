//! JSON-RPC 2.0 over netstrings: the front end Kamailio's `janssonrpcc`
//! connects to (docs/KAMAILIO.md).
//!
//! Methods: `decide` (params: [`DecideParams`]; result: [`Answer`]) and
//! `observe` (params: [`ObserveParams`]; result: [`Observed`]; usually sent
//! as a notification, which gets no answer).
//!
//! The calls of a connection are decided concurrently and answered by their
//! `id` as each is done, in whatever order they finish: a decision that
//! waits for a strict audit `fsync` or an ENUM look-up (on a blocking
//! thread) holds up no other. A connection is one task: a call whose chain
//! is CPU only is decided and answered without a hand-off between threads,
//! which on these VMs costs more than the decision. A connection that closes
//! loses only the answers not yet written; decisions running on blocking
//! threads complete (their audit records are kept).

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::netstring::{self, Decoder, NetstringError};
use super::{Answer, DecideParams, Decider, DecisionError, Interface, Limits, ObserveParams, RequestError};

/// Calls of one connection being decided at once; the connection is not
/// read further until one finishes (back-pressure, not unbounded tasks).
const MAX_IN_FLIGHT: usize = 1024;

/// JSON-RPC 2.0 error codes (§5.1).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

pub(super) async fn serve(listener: TcpListener, decider: Decider, limits: Limits) {
    let max = limits.max_call_bytes;
    crate::listener::accept_each(listener, limits.connections, "decision service (jsonrpc)", move |stream, peer| {
        connection(stream, peer, decider.clone(), max)
    })
    .await;
}

/// One connection, in one task: frames are read and calls decided here,
/// answers written here as each call finishes. A call whose chain is CPU
/// only finishes when first polled; one that may block waits on its
/// blocking thread while the others go on.
async fn connection(mut stream: TcpStream, peer: SocketAddr, decider: Decider, max: usize) {
    let _open = decider.connection(Interface::JsonRpc);
    // Answers are small and a proxy waits on each: no Nagle delay.
    let _ = stream.set_nodelay(true);
    tracing::info!(%peer, "decision client connected (jsonrpc)");
    let (mut read, mut write) = stream.split();
    let mut decoder = Decoder::new(max);
    let mut in_flight = FuturesUnordered::new();
    let mut reading = true;
    loop {
        while reading && in_flight.len() < MAX_IN_FLIGHT {
            match decoder.next_frame() {
                Ok(Some(payload)) => in_flight.push(call(&decider, payload, peer)),
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be read further: say why once, and
                    // close once the calls in flight are answered.
                    tracing::warn!(%peer, "decision client sent a malformed netstring, closing: {e}");
                    let answer = error_response(Value::Null, PARSE_ERROR, &e.to_string());
                    let _ = write.write_all(&netstring::encode(&answer)).await;
                    reading = false;
                }
            }
        }
        if !reading && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            received = read.read_buf(decoder.buffer()), if reading && in_flight.len() < MAX_IN_FLIGHT => {
                match received {
                    Ok(0) => {
                        if decoder.is_mid_frame() {
                            tracing::info!(%peer, "decision client: {}", NetstringError::Truncated);
                        }
                        reading = false;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::info!(%peer, "decision client connection failed: {e}");
                        reading = false;
                    }
                }
            }
            Some(answer) = in_flight.next() => {
                // A closed connection loses the answers not yet written; the
                // decisions still running on blocking threads complete.
                if let Some(answer) = answer
                    && write.write_all(&netstring::encode(&answer)).await.is_err()
                {
                    break;
                }
            }
        }
    }
    tracing::info!(%peer, "decision client disconnected (jsonrpc)");
}

/// One call; `None` for a notification, which is never answered.
async fn call(decider: &Decider, payload: Bytes, peer: SocketAddr) -> Option<Vec<u8>> {
    let mut envelope = match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(envelope)) => envelope,
        Ok(Value::Array(_)) => {
            return Some(refuse(peer, Value::Null, INVALID_REQUEST, "batches are not supported: send one call"));
        }
        Ok(_) => return Some(refuse(peer, Value::Null, INVALID_REQUEST, "a call is a JSON object")),
        Err(e) => return Some(refuse(peer, Value::Null, PARSE_ERROR, &format!("not JSON: {e}"))),
    };
    let id = envelope.remove("id");
    let answer = |code, message: &str| id.clone().map(|id| refuse(peer, id, code, message));
    if envelope.get("jsonrpc").is_some_and(|v| v != "2.0") {
        return answer(INVALID_REQUEST, "`jsonrpc`: must be \"2.0\"");
    }
    let Some(Value::String(method)) = envelope.remove("method") else {
        return answer(INVALID_REQUEST, "`method`: a string is required");
    };
    let params = envelope.remove("params").unwrap_or(Value::Null);
    if let Some(unknown) = envelope.keys().find(|k| *k != "jsonrpc") {
        return answer(INVALID_REQUEST, &format!("unknown member `{unknown}`"));
    }
    let result: Result<Value, DecisionError> = match method.as_str() {
        "decide" => match RequestError::from_value::<DecideParams>(params) {
            Ok(params) => decider.decide(params, Interface::JsonRpc).await.map(|a: Answer| to_value(&a)),
            Err(e) => {
                decider.refused(Interface::JsonRpc);
                Err(e.into())
            }
        },
        "observe" => match RequestError::from_value::<ObserveParams>(params) {
            Ok(params) => decider.observe(params).await.map(|o| to_value(&o)),
            Err(e) => Err(e.into()),
        },
        other => return answer(METHOD_NOT_FOUND, &format!("no method `{other}`: sipwarden has decide and observe")),
    };
    match (result, id) {
        (Ok(result), Some(id)) => Some(response(json!({ "jsonrpc": "2.0", "id": id, "result": result }))),
        (Ok(_), None) => None,
        (Err(e), id) => {
            let code = match e {
                DecisionError::Request(_) => INVALID_PARAMS,
                DecisionError::Chain => INTERNAL_ERROR,
            };
            let message = format!("{method}: params {e}");
            match id {
                Some(id) => Some(refuse(peer, id, code, &message)),
                None => {
                    tracing::warn!(%peer, "decision client: refused notification: {message}");
                    None
                }
            }
        }
    }
}

fn to_value(value: &impl serde::Serialize) -> Value {
    // Our own types, with string keys: serializing them cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// An error answer, logged: whoever wrote the calling script needs to know.
fn refuse(peer: SocketAddr, id: Value, code: i64, message: &str) -> Vec<u8> {
    tracing::warn!(%peer, code, "decision client: refused call: {message}");
    error_response(id, code, message)
}

fn error_response(id: Value, code: i64, message: &str) -> Vec<u8> {
    let mut error = Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), message.into());
    response(json!({ "jsonrpc": "2.0", "id": id, "error": error }))
}

fn response(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap_or_default()
}
