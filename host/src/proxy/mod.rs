//! The SIP proxy: a transaction-stateful RFC 3261 §16 proxy that runs the
//! policy chain on every new request.
//!
//! Reading order: this file (the pipeline: receive, classify, dispatch,
//! and why a message is handled on the task that read it),
//! `request.rs` (a request from arrival to forwarding or answer),
//! `response.rs` (responses back through the response context, and the
//! branches' timers), `timers.rs` (the one queue those timers wait in),
//! `route.rs` (where a request goes), `transaction.rs` (state, and what a
//! completed transaction keeps), `via.rs` (the Via header and branches),
//! `outcomes.rs` (what the admin API counts).

mod outcomes;
mod request;
mod response;
mod route;
mod timers;
mod transaction;
mod via;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

pub use outcomes::TransactionCount;
pub use route::{Local, Unresolvable, Unroutable, Upstream, resolve};

use crate::policy::{Chain, SharedChain};
use crate::registrar::{Registrar, RegistrarStats};
use crate::sip;
use crate::transport::{Inbound, Listeners, Origin, Target, TransportLayer, TransportStats};
use timers::Timers;
use transaction::Table;

/// Tuning of the proxy core.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Add Record-Route to dialog-creating requests so that in-dialog
    /// requests come back through the proxy (and its policies).
    pub record_route: bool,
    /// Transactions in flight at most; beyond, new requests get 503.
    pub max_transactions: usize,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions { record_route: true, max_transactions: 100_000 }
    }
}

/// A running proxy.
#[derive(Clone)]
pub struct Proxy {
    core: Arc<Core>,
}

struct Core {
    transport: TransportLayer,
    chain: SharedChain,
    registrar: Option<Arc<Registrar>>,
    upstream: Option<Upstream>,
    local: Local,
    options: ProxyOptions,
    table: Mutex<Table>,
    timers: Arc<Timers>,
    quiet: LogLimit,
    outcomes: outcomes::Outcomes,
}

impl Proxy {
    /// A proxy core sending over `transport` and deciding on `chain`.
    /// Requests for the registrar's domains go to `registrar`'s bindings,
    /// the others to `upstream`; `local` says which Via, Record-Route and
    /// Request-URI hosts are this proxy. Nothing is read until
    /// [`Proxy::start`].
    pub fn new(
        transport: TransportLayer,
        chain: SharedChain,
        registrar: Option<Arc<Registrar>>,
        upstream: Option<Upstream>,
        local: Local,
        options: ProxyOptions,
    ) -> Proxy {
        Proxy {
            core: Arc::new(Core {
                transport,
                chain,
                registrar,
                upstream,
                local,
                options,
                table: Mutex::new(Table::default()),
                timers: Arc::default(),
                quiet: LogLimit::new(20),
                outcomes: outcomes::Outcomes::default(),
            }),
        }
    }

    /// The chain new requests run through.
    pub fn chain(&self) -> Arc<Chain> {
        self.core.chain.load()
    }

    /// Server transactions that ended, by method and final status.
    pub fn transactions(&self) -> Vec<TransactionCount> {
        self.core.outcomes.snapshot()
    }

    /// The transport layer's counters (datagrams, connections, bytes).
    pub fn transport_stats(&self) -> TransportStats {
        self.core.transport.stats()
    }

    /// What the embedded registrar holds now; `None` without one.
    pub fn registrar_stats(&self) -> Option<RegistrarStats> {
        self.core.registrar.as_ref().map(|registrar| registrar.stats())
    }

    /// Process one inbound message: everything up to the point where the
    /// proxy waits for the network (a response, a timer). `start` runs this
    /// for every message; fuzzing and tests call it directly.
    pub async fn handle(&self, inbound: Inbound) {
        self.core.clone().handle(inbound).await
    }

    /// Serve what the listeners receive, until the transport shuts down.
    /// Returns the task that fires the branches' timers and forgets
    /// finished transactions; the server aborts it on shutdown.
    pub fn start(&self, listeners: Listeners) -> JoinHandle<()> {
        let core = self.core.clone();
        listeners.start(Arc::new(move |inbound| run_now_or_spawn(core.clone().handle(inbound))));
        let core = Arc::downgrade(&self.core);
        tokio::spawn(async move {
            tokio::join!(sweep(core.clone()), timers::run(core));
        })
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // The timer task holds only a weak reference: let it see it is alone.
        self.timers.wake();
    }
}

/// Run `work` (a message's handling, a timer's action) on the calling task
/// as far as it goes without waiting; only the rest, if any, becomes a task
/// of its own.
///
/// Most messages never wait: a request whose chain cannot block is decided,
/// routed and sent in one go (a UDP send does not wait, nor does a write to
/// a connection with room in its buffer), and so is a response. Polling the
/// work once, here, therefore finishes it without a task spawn or a wake-up
/// of another thread, which at thousands of messages a second is most of
/// what a proxy costs (docs/DESIGN.md). Work that returns `Pending` (a
/// chain on a blocking thread, a DNS look-up, a full socket) is spawned
/// and polled again by the runtime, as any future may be, with the
/// runtime's waker.
fn run_now_or_spawn(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut context = Context::from_waker(Waker::noop());
    if work.as_mut().poll(&mut context).is_pending() {
        tokio::spawn(work);
    }
}

/// Forget finished transactions and expired registrations, once a second.
async fn sweep(core: std::sync::Weak<Core>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(core) = core.upgrade() else { return };
        let now = Instant::now();
        core.table().purge(now);
        if let Some(registrar) = &core.registrar {
            registrar.purge(now);
        }
    }
}

impl Core {
    async fn handle(self: Arc<Self>, inbound: Inbound) {
        match sip::parse(&inbound.bytes) {
            Ok(sip::Message::Request(request)) => self.on_request(request, inbound.origin, inbound.flow).await,
            Ok(sip::Message::Response(response)) => self.on_response(response).await,
            Err(error) => self.on_unparsable(&inbound, error).await,
        }
    }

    /// Answer a request that cannot be parsed when enough of it can be read
    /// to address a response (RFC 4475 §3.1.2); drop it otherwise.
    async fn on_unparsable(&self, inbound: &Inbound, error: sip::ParseError) {
        let is_response = inbound.bytes.starts_with(b"SIP/");
        let salvaged = if is_response { None } else { sip::salvage_request_headers(&inbound.bytes) };
        let acked = salvaged.as_ref().and_then(|h| h.get("CSeq")).is_some_and(|c| c.trim_end().ends_with("ACK"));
        match salvaged {
            Some(headers) if !acked => {
                let response = sip::Response::to_request_headers(&headers, error.status_code(), &error.to_string());
                let target = reply_target(&inbound.origin, inbound.flow, via::top(&headers).as_ref());
                self.send(&target, Bytes::from(response.to_bytes())).await;
            }
            _ => {
                if self.quiet.allow() {
                    tracing::info!(
                        source = %inbound.origin.source,
                        transport = %inbound.origin.transport,
                        "dropped a message that cannot be answered: {error}"
                    );
                }
            }
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table is plain data; a panic elsewhere cannot leave it half-updated
        // in a way that matters more than refusing service would.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, target: &Target, bytes: Bytes) -> bool {
        match self.transport.send(target, bytes).await {
            Ok(()) => true,
            Err(error) => {
                if self.quiet.allow() {
                    tracing::info!(addr = %target.addr, transport = %target.transport, "send failed: {error}");
                }
                false
            }
        }
    }

    /// Send the final response of a server transaction, already stored in
    /// it. The plugins that asked for it see it first, and only then may a
    /// retransmission have it: an audit record written with strict
    /// durability is on disk before the client learns the outcome.
    async fn send_final(&self, key: &transaction::ServerKey, response: sip::Response, target: &Target, bytes: Bytes) {
        self.observe(key, response).await;
        self.table().release(key);
        self.send(target, bytes).await;
    }

    /// Show the final response of a request to the plugins that asked for
    /// it. Runs off the I/O threads when an observer may call a capability
    /// that blocks.
    async fn observe(&self, key: &transaction::ServerKey, response: sip::Response) {
        let observe = {
            let mut table = self.table();
            // Observed once, at the final response: nothing needs what was
            // decided after this.
            let tx = table.servers.get_mut(key);
            tx.and_then(|tx| tx.decided.take_if(|decided| !decided.observers.is_empty()))
                .map(|decided| (decided.observers, decided.request, decided.origin))
        };
        let Some((observers, request, origin)) = observe else { return };
        if observers.iter().any(|plugin| plugin.may_block()) {
            let observed =
                tokio::task::spawn_blocking(move || Chain::observe(&observers, request, origin, response)).await;
            if observed.is_err() {
                tracing::error!("observing a response failed");
            }
        } else {
            Chain::observe(&observers, request, origin, response);
        }
    }
}

/// Where responses to a request go: back over its connection, or for
/// datagrams to its source address (RFC 3261 §18.2.2 with RFC 3581): the
/// source IP always, at the source port when the client asked with `rport`
/// (or its Via cannot be read), else at its Via port. Never to an address
/// the message names itself, so that nobody can make the proxy reflect
/// responses at a third party.
fn reply_target(origin: &Origin, flow: crate::transport::Flow, via: Option<&via::ViaParm>) -> Target {
    use crate::transport::Flow;
    match flow {
        Flow::Stream(id) => {
            Target { transport: origin.transport, addr: origin.source, flow: Some(id), server_name: None }
        }
        Flow::Datagram => {
            let port = match via {
                Some(v) if v.param("rport").is_none() => v.port.unwrap_or(route::default_port(origin.transport)),
                _ => origin.source.port(),
            };
            let addr = std::net::SocketAddr::new(origin.source.ip(), port);
            Target { transport: origin.transport, addr, flow: None, server_name: None }
        }
    }
}

/// At most `per_second` log lines a second for events a peer can cause at
/// will, so that a flood of garbage cannot fill the disk.
struct LogLimit {
    per_second: u32,
    window: Mutex<(Instant, u32)>,
}

impl LogLimit {
    fn new(per_second: u32) -> LogLimit {
        LogLimit { per_second, window: Mutex::new((Instant::now(), 0)) }
    }

    fn allow(&self) -> bool {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= self.per_second
    }
}
