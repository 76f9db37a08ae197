//! The decision service: sipwarden as the policy decision point of a proxy
//! it does not replace (`[decision]` in the configuration).
//!
//! A proxy that keeps its own routing (Kamailio, OpenSIPS, a script) hands
//! each request to sipwarden, which runs the chain that serves in proxy mode,
//! with the same capabilities, and answers what to do: continue (with a new
//! Request-URI, headers to remove and headers to append) or respond (status,
//! reason, headers such as a digest challenge). When a policy asked to see
//! the response (the audit policy records every REGISTER's final status), the
//! answer says `observe` and the proxy reports the final reply.
//!
//! Reading order: `schema` (what crosses the wire and every way it can be
//! wrong), this file (deciding and observing, shared by both front ends),
//! `pending` (decided requests waiting for their reply), `jsonrpc` over
//! `netstring` (JSON-RPC 2.0, for Kamailio's `janssonrpcc`), `http`
//! (`POST /decide` for any proxy with an HTTP client), `stats`.
//! `docs/KAMAILIO.md` is the operator's side of it.

mod http;
mod jsonrpc;
mod netstring;
mod pending;
mod schema;
mod stats;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use schema::{Answer, DecideParams, HeaderField, ObserveParams, Observed, RequestError, TlsPeerParams};
pub use stats::{DecisionOutcome, DecisionStats, Interface, ObservationOutcome};

use crate::policy::{Chain, Decision, SharedChain};
use crate::sip::{self, Method};
use crate::transport::Origin;
use pending::{Key, Pending};
use stats::Counters;

/// `[decision]`: where the decision service listens, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DecisionConfig {
    /// JSON-RPC 2.0 over netstrings (Kamailio's `janssonrpcc` connects here).
    #[serde(default)]
    pub jsonrpc: Vec<SocketAddr>,
    /// HTTP/1.1: `POST /decide` and `POST /observe`.
    #[serde(default)]
    pub http: Vec<SocketAddr>,
    /// The largest SIP message decided, in bytes (after base64 decoding).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long a decided request waits for its reply to be reported; after
    /// that its observers never see it. The default outlasts an INVITE's
    /// Timer C (three minutes).
    #[serde(default = "default_observe_timeout")]
    pub observe_timeout_secs: u64,
    /// Requests waiting for their reply at most; past it a request is
    /// decided without its observation (counted as `dropped`).
    #[serde(default = "default_max_waiting")]
    pub max_waiting: usize,
    /// Connections served at once, per front end.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            jsonrpc: Vec::new(),
            http: Vec::new(),
            max_message_bytes: default_max_message_bytes(),
            observe_timeout_secs: default_observe_timeout(),
            max_waiting: default_max_waiting(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_message_bytes() -> usize {
    65_535
}

fn default_observe_timeout() -> u64 {
    190
}

fn default_max_waiting() -> usize {
    100_000
}

fn default_max_connections() -> usize {
    256
}

impl DecisionConfig {
    /// The most bytes one call may carry: the message in base64 (4/3 of
    /// its size) plus the rest of the call, TLS peer names included.
    fn max_call_bytes(&self) -> usize {
        self.max_message_bytes / 3 * 4 + 64 * 1024
    }
}

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The call itself is wrong: the caller's to fix.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The chain could not run (its task died); logged where it happened.
    #[error("the policy chain could not run; see sipwarden's log")]
    Chain,
}

/// Decides requests for a proxy, and shows the replies it reports to the
/// plugins that asked for them. Cheap to clone: both front ends share one.
#[derive(Clone)]
pub struct Decider {
    inner: Arc<Inner>,
}

struct Inner {
    chain: SharedChain,
    pending: Pending,
    counters: Counters,
    max_message_bytes: usize,
}

impl Decider {
    /// A decider running `chain` (the one reloads swap).
    pub fn new(chain: SharedChain, config: &DecisionConfig) -> Decider {
        Decider {
            inner: Arc::new(Inner {
                chain,
                pending: Pending::new(config.max_waiting, Duration::from_secs(config.observe_timeout_secs)),
                counters: Counters::default(),
                max_message_bytes: config.max_message_bytes,
            }),
        }
    }

    /// Decide one request.
    ///
    /// ACK and CANCEL are not decided, as in proxy mode: they follow the
    /// INVITE the chain decided, and the answer lets them continue.
    pub async fn decide(&self, params: DecideParams, via: Interface) -> Result<Answer, DecisionError> {
        let started = quanta::Instant::now();
        let result = self.decide_inner(params).await;
        let outcome = match &result {
            Ok(Answer::Continue { .. }) => DecisionOutcome::Continue,
            Ok(Answer::Respond { .. }) => DecisionOutcome::Respond,
            Err(_) => DecisionOutcome::Error,
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.inner.counters.decided(via, outcome, nanos);
        result
    }

    async fn decide_inner(&self, params: DecideParams) -> Result<Answer, DecisionError> {
        let (request, origin) = params.into_request(self.inner.max_message_bytes)?;
        if request.method == Method::ACK || request.method == Method::CANCEL {
            return Ok(Answer::pass());
        }
        let chain = self.inner.chain.load();
        if !chain.may_block(&request.method) {
            // CPU only, a few microseconds: here, without a thread hand-off.
            return Ok(self.inner.run_chain(&chain, request, origin));
        }
        // A plugin may wait on I/O (a strict audit append waits for fsync,
        // an ENUM look-up for the DNS): never on an async worker, and never
        // holding up the other calls of the connection.
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run_chain(&chain, request, origin)).await.map_err(|e| {
            tracing::error!("policy chain task failed: {e}");
            DecisionError::Chain
        })
    }

    /// Show a reported final reply to the plugins waiting for it.
    pub async fn observe(&self, params: ObserveParams) -> Result<Observed, DecisionError> {
        let response = params.into_response(self.inner.max_message_bytes)?;
        // A provisional reply is not the outcome: the request waits on.
        let waiting = (response.status >= 200)
            .then(|| Key::of_response(&response))
            .flatten()
            .and_then(|key| self.inner.pending.take(&key));
        tracing::debug!(
            status = response.status,
            call_id = response.call_id().unwrap_or_default(),
            matched = waiting.is_some(),
            "reply reported"
        );
        let Some(waiting) = waiting else {
            self.inner.counters.observed(ObservationOutcome::Unmatched, 1);
            return Ok(Observed { matched: false });
        };
        self.inner.counters.observed(ObservationOutcome::Matched, 1);
        if !waiting.observers.iter().any(|p| p.may_block()) {
            Chain::observe(&waiting.observers, waiting.request, waiting.origin, response);
            return Ok(Observed { matched: true });
        }
        let observed = tokio::task::spawn_blocking(move || {
            Chain::observe(&waiting.observers, waiting.request, waiting.origin, response)
        })
        .await;
        if let Err(e) = observed {
            tracing::error!("observing a reply failed: {e}");
        }
        Ok(Observed { matched: true })
    }

    /// The counters, for `/metrics`.
    pub fn stats(&self) -> DecisionStats {
        self.inner.counters.snapshot(self.inner.pending.len())
    }

    /// Forget, once a second, the requests whose reply never came. Ends
    /// when the decider is dropped.
    pub fn sweep(&self) -> JoinHandle<()> {
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                let expired = inner.pending.purge(Instant::now());
                if expired > 0 {
                    tracing::debug!(expired, "replies never reported: their observers will not see them");
                    inner.counters.observed(ObservationOutcome::Expired, expired as u64);
                }
            }
        })
    }
}

impl Inner {
    /// The chain on one request (on a blocking thread when it may block).
    fn run_chain(&self, chain: &Chain, request: sip::Request, origin: Origin) -> Answer {
        let original_uri = request.uri.clone();
        let key = Key::of_request(&request);
        let outcome = chain.decide(request, origin);
        if outcome.observers.is_empty() {
            return Answer::of(&outcome, &original_uri, false);
        }
        match &outcome.decision {
            Decision::Respond { reply, .. } => {
                // The reply is the chain's own: its observers see it before
                // the proxy sends it, as in proxy mode (a strict audit record
                // is on disk before the client learns the outcome).
                let response = reply.to_response(&outcome.request);
                let answer = Answer::of(&outcome, &original_uri, false);
                Chain::observe(&outcome.observers, outcome.request, outcome.origin, response);
                answer
            }
            Decision::Forward => {
                let Some(key) = key else { return Answer::of(&outcome, &original_uri, false) };
                let mut answer = Answer::of(&outcome, &original_uri, true);
                let waits = self.pending.wait(key, outcome.observers, outcome.request, outcome.origin, Instant::now());
                if !waits {
                    self.counters.observed(ObservationOutcome::Dropped, 1);
                    if let Answer::Continue { observe, .. } = &mut answer {
                        *observe = false;
                    }
                }
                answer
            }
        }
    }
}

/// The decision service's listeners, bound and not serving yet.
pub struct DecisionService {
    decider: Decider,
    jsonrpc: Vec<TcpListener>,
    http: Vec<TcpListener>,
    config: DecisionConfig,
}

/// A listener of `[decision]` that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("[decision] {interface}: cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The front end: `jsonrpc` or `http`, as in `[decision]`.
    pub interface: &'static str,
    /// The address from `[decision]`.
    pub addr: SocketAddr,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

impl DecisionService {
    /// Bind every listener, so that an address in use stops the server at start.
    pub async fn bind(config: &DecisionConfig, decider: Decider) -> Result<DecisionService, BindError> {
        async fn bind_all(addrs: &[SocketAddr], interface: Interface) -> Result<Vec<TcpListener>, BindError> {
            let mut listeners = Vec::new();
            for &addr in addrs {
                let listener = TcpListener::bind(addr).await.map_err(|source| BindError {
                    interface: interface.as_str(),
                    addr,
                    source,
                })?;
                if !addr.ip().is_loopback() {
                    tracing::warn!(%addr, interface = interface.as_str(),
                        "the decision service listens beyond loopback: it decides for whoever connects");
                }
                listeners.push(listener);
            }
            Ok(listeners)
        }
        Ok(DecisionService {
            jsonrpc: bind_all(&config.jsonrpc, Interface::JsonRpc).await?,
            http: bind_all(&config.http, Interface::Http).await?,
            decider,
            config: config.clone(),
        })
    }

    /// Where each front end listens.
    pub fn local_addrs(&self) -> Vec<(Interface, SocketAddr)> {
        let of = |listeners: &[TcpListener], via| {
            listeners.iter().filter_map(move |l| l.local_addr().ok().map(|a| (via, a))).collect::<Vec<_>>()
        };
        let mut addrs = of(&self.jsonrpc, Interface::JsonRpc);
        addrs.extend(of(&self.http, Interface::Http));
        addrs
    }

    /// The decider the front ends share, for the admin API's counters.
    pub(crate) fn decider(&self) -> &Decider {
        &self.decider
    }

    /// Serve every listener, each in a task of its own; the tasks end when
    /// aborted.
    pub fn serve(self) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![self.decider.sweep()];
        let limits = Limits {
            max_call_bytes: self.config.max_call_bytes(),
            connections: Arc::new(tokio::sync::Semaphore::new(self.config.max_connections)),
        };
        for listener in self.jsonrpc {
            tasks.push(tokio::spawn(jsonrpc::serve(listener, self.decider.clone(), limits.clone())));
        }
        let limits =
            Limits { connections: Arc::new(tokio::sync::Semaphore::new(self.config.max_connections)), ..limits };
        for listener in self.http {
            tasks.push(tokio::spawn(http::serve(listener, self.decider.clone(), limits.clone())));
        }
        tasks
    }
}

/// What one front end holds its peers to.
#[derive(Clone)]
struct Limits {
    /// The largest call (a netstring's payload, an HTTP body).
    max_call_bytes: usize,
    /// One permit per open connection.
    connections: Arc<tokio::sync::Semaphore>,
}

impl Decider {
    /// Count a `decide` call refused before it could be read.
    fn refused(&self, via: Interface) {
        self.inner.counters.refused(via);
    }

    /// Counts an open connection of `via` while the guard lives.
    fn connection(&self, via: Interface) -> stats::ConnectionGuard {
        stats::ConnectionGuard::new(self.inner.clone(), via)
    }
}
