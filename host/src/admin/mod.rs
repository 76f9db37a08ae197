//! The admin HTTP API (`[admin]` in the configuration).
//!
//! - `GET /healthz`: `ok` while the process serves;
//! - `GET /plugins`: every plugin, its version and its counters (JSON);
//! - `POST /reload`: reload now, and say what changed and what was refused;
//! - `GET /metrics`: Prometheus text format (`metrics.rs`).
//!
//! It listens on loopback unless told otherwise, and with a `token` every
//! request must carry it as a bearer token: the API swaps policies and shows
//! what they see, so it is for operators only. HTTP/1.1 only, plain: put a
//! TLS-terminating proxy in front to expose it beyond the host.

mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::AdminConfig;
use crate::decision::Decider;
use crate::policy::{Plugin, Signer};
use crate::proxy::Proxy;
use crate::reload::{PluginStatus, Reloader, Trigger};

/// Connections served at once; more wait to be accepted. The API is for a
/// few operators and one scraper, not for load.
const MAX_CONNECTIONS: usize = 32;

/// A bound admin API, not serving yet.
pub struct Admin {
    listener: TcpListener,
    api: Arc<Api>,
}

struct Api {
    sources: Sources,
    token: Option<String>,
}

/// What the API reports on: the plugins always, the proxy and the decision
/// service when they run.
#[derive(Clone)]
pub struct Sources {
    /// The plugins, their counters and `POST /reload`.
    pub reloader: Arc<Reloader>,
    /// The SIP proxy, when it runs: transaction, transport and registrar
    /// metrics.
    pub proxy: Option<Proxy>,
    /// The decision service, when it runs: its metrics.
    pub decider: Option<Decider>,
}

impl Admin {
    /// Bind the listener, so that an address in use stops the server at start.
    pub async fn bind(config: &AdminConfig, sources: Sources) -> std::io::Result<Admin> {
        let listener = TcpListener::bind(config.listen).await?;
        if !config.listen.ip().is_loopback() && config.token.is_none() {
            tracing::warn!(listen = %config.listen, "the admin API listens beyond loopback without a token");
        }
        let token = config.token.clone().filter(|t| !t.is_empty());
        Ok(Admin { listener, api: Arc::new(Api { sources, token }) })
    }

    /// The address the API listens on: the port the system chose when
    /// `listen` asked for port 0.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until the task is dropped.
    pub async fn serve(self) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let api = self.api;
        crate::listener::accept_each(self.listener, permits, "admin API", move |stream, peer| {
            let api = api.clone();
            crate::listener::serve_http(stream, peer, "admin API", move |request| {
                let api = api.clone();
                async move { api.handle(request).await }
            })
        })
        .await;
    }
}

type Reply = Response<Full<Bytes>>;

impl Api {
    async fn handle(&self, request: Request<Incoming>) -> Reply {
        if !self.authorized(&request) {
            let mut reply = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            reply.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return reply;
        }
        let method = request.method();
        match request.uri().path() {
            "/healthz" if method == Method::GET => text(StatusCode::OK, "ok\n"),
            "/plugins" if method == Method::GET => {
                json(StatusCode::OK, &self.sources.reloader.plugins().iter().map(PluginView::of).collect::<Vec<_>>())
            }
            "/reload" if method == Method::POST => {
                let report = self.sources.reloader.reload(Trigger::Api).await;
                json(StatusCode::OK, &report)
            }
            "/metrics" if method == Method::GET => {
                let mut reply = text(StatusCode::OK, metrics::render(&self.sources));
                reply
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                reply
            }
            "/healthz" | "/plugins" | "/metrics" => not_allowed("GET"),
            "/reload" => not_allowed("POST"),
            _ => text(StatusCode::NOT_FOUND, "not found: the API has /healthz, /plugins, /reload and /metrics\n"),
        }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else { return true };
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // Compared without stopping at the first difference, so that the time
        // a refusal takes does not tell how much of a guess was right.
        presented.is_some_and(|p| sipwarden_grammar::constant_time_eq(p.as_bytes(), token.as_bytes()))
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    reply
}

fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    match serde_json::to_vec_pretty(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut reply = text(status, body);
            reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            reply
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}\n")),
    }
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, format!("use {allow}\n"));
    reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

/// One plugin in `GET /plugins`.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PluginView<'a> {
    name: &'a str,
    /// The manifest's `version`, if the operator set one.
    version: Option<&'a str>,
    sha256: Option<&'a str>,
    /// The trusted key that signed the serving component; `null` when no
    /// keys are trusted (signatures are not checked) or none serves.
    signer: Option<&'a Signer>,
    /// RFC 3339, UTC.
    loaded_at: Option<String>,
    /// Index in the chain, 0 first; `null`: not in the chain (never loaded).
    position: Option<usize>,
    order: Option<i32>,
    /// `decide` calls.
    calls: u64,
    verdicts: Verdicts,
    /// `observe` calls.
    observed: u64,
    traps: u64,
    deadlines: u64,
    memory: u64,
    malformed: u64,
    declined: u64,
    starts_failed: u64,
    /// Time spent in calls, in seconds.
    call_seconds: f64,
    last_error: Option<String>,
    last_reload_error: Option<&'a str>,
    /// The SHA-256 of the refused component on disk, when there is one.
    refused_sha256: Option<&'a str>,
}

#[derive(Serialize)]
struct Verdicts {
    #[serde(rename = "continue")]
    continues: u64,
    #[serde(rename = "respond")]
    responds: u64,
}

impl<'a> PluginView<'a> {
    fn of(status: &'a PluginStatus) -> PluginView<'a> {
        let stats = status.plugin.as_ref().map(|p| p.stats()).unwrap_or_default();
        PluginView {
            name: &status.name,
            version: status.plugin.as_ref().and_then(|p| p.manifest().version.as_ref()).map(|v| v.as_str()),
            sha256: status.sha256.as_deref(),
            signer: status.plugin.as_deref().and_then(Plugin::signer),
            loaded_at: status.loaded_at.map(rfc3339),
            position: status.position,
            order: status.order,
            calls: stats.calls,
            verdicts: Verdicts { continues: stats.continues, responds: stats.responds },
            observed: stats.observed,
            traps: stats.traps,
            deadlines: stats.deadlines,
            memory: stats.memory,
            malformed: stats.malformed,
            declined: stats.declined,
            starts_failed: stats.starts_failed,
            call_seconds: stats.nanos as f64 / 1e9,
            last_error: stats.last_error,
            last_reload_error: status.last_reload_error.as_deref(),
            refused_sha256: status.refused_sha256.as_deref(),
        }
    }
}

/// RFC 3339 in UTC, to the millisecond.
fn rfc3339(at: std::time::SystemTime) -> String {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::from(at);
    let at = at.replace_nanosecond(at.millisecond() as u32 * 1_000_000).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_else(|_| at.unix_timestamp().to_string())
}
