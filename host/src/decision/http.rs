//! HTTP/1.1 JSON: the front end for any proxy with an HTTP client
//! (Kamailio's `http_client`, OpenSIPS's `rest_client`, a script).
//!
//! - `POST /decide`: body [`DecideParams`], answer `200` with an [`Answer`];
//! - `POST /observe`: body [`ObserveParams`], answer `200` with [`Observed`].
//!
//! A call that is wrong gets a `4xx` whose JSON body says why, naming the
//! field: `400` (not JSON, not of the schema), `413` (too large), `415`
//! (not JSON by its Content-Type), `422` (JSON of the schema whose message is
//! not a SIP request). Plain HTTP, for loopback: the service decides for
//! whoever reaches it.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

use super::{DecideParams, Decider, DecisionError, Interface, Limits, ObserveParams, RequestError};

pub(super) async fn serve(listener: TcpListener, decider: Decider, limits: Limits) {
    let max = limits.max_call_bytes;
    crate::listener::accept_each(listener, limits.connections, "decision service (http)", move |stream, peer| {
        let _ = stream.set_nodelay(true);
        let decider = decider.clone();
        async move {
            let _open = decider.connection(Interface::Http);
            let handler = decider.clone();
            crate::listener::serve_http(stream, peer, "decision service", move |request| {
                let decider = handler.clone();
                async move { handle(&decider, request, max, peer).await }
            })
            .await;
        }
    })
    .await;
}

type Reply = Response<Full<Bytes>>;

async fn handle(decider: &Decider, request: Request<Incoming>, max: usize, peer: SocketAddr) -> Reply {
    let path = request.uri().path().to_string();
    if path != "/decide" && path != "/observe" {
        return error(StatusCode::NOT_FOUND, "not found: the decision service has POST /decide and POST /observe");
    }
    if request.method() != Method::POST {
        let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return reply;
    }
    let json_typed = request.headers().get(header::CONTENT_TYPE).is_none_or(|v| {
        v.to_str().is_ok_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")))
    });
    if !json_typed {
        return refuse(decider, &path, peer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
    }
    let body = match Limited::new(request.into_body(), max).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            let message = format!("the body is larger than {max} bytes");
            return refuse(decider, &path, peer, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(e) => return refuse(decider, &path, peer, StatusCode::BAD_REQUEST, &format!("cannot read the body: {e}")),
    };
    let result = if path == "/decide" {
        let params = match RequestError::parse::<DecideParams>(&body) {
            Ok(params) => params,
            Err(e) => return refuse(decider, &path, peer, status_of(&e), &e.to_string()),
        };
        decider.decide(params, Interface::Http).await.map(|a| ok(&a))
    } else {
        let params = match RequestError::parse::<ObserveParams>(&body) {
            Ok(params) => params,
            Err(e) => return refuse(decider, &path, peer, status_of(&e), &e.to_string()),
        };
        decider.observe(params).await.map(|o| ok(&o))
    };
    match result {
        Ok(reply) => reply,
        // Counted by the decider; said here, once.
        Err(e) => {
            tracing::warn!(%peer, "decision service: refused {path}: {e}");
            let status = match &e {
                DecisionError::Request(e) => status_of(e),
                DecisionError::Chain => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, &e.to_string())
        }
    }
}

fn status_of(e: &RequestError) -> StatusCode {
    match e {
        RequestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        RequestError::NotSip { .. } | RequestError::NotRequest { .. } | RequestError::NotResponse { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A refusal before the call reached the decider: logged and counted.
fn refuse(decider: &Decider, path: &str, peer: SocketAddr, status: StatusCode, message: &str) -> Reply {
    tracing::warn!(%peer, "decision service: refused {path}: {message}");
    if path == "/decide" {
        decider.refused(Interface::Http);
    }
    error(status, message)
}

fn ok(value: &impl serde::Serialize) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_default();
    with_json(StatusCode::OK, body)
}

fn error(status: StatusCode, message: &str) -> Reply {
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    with_json(status, body)
}

fn with_json(status: StatusCode, body: Vec<u8>) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}
