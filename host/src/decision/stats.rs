//! What the decision service counts, for `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::policy::{Latency, LatencySnapshot};

/// The front end a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// JSON-RPC 2.0 over netstrings (Kamailio's janssonrpcc).
    JsonRpc,
    /// `POST /decide` and `POST /observe`.
    Http,
}

impl Interface {
    /// Every front end, in the order the counters are kept.
    pub const ALL: [Interface; 2] = [Interface::JsonRpc, Interface::Http];

    /// The front end's `interface` label in `/metrics` and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::JsonRpc => "jsonrpc",
            Interface::Http => "http",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a `decide` call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The answer let the request through (with or without edits).
    Continue,
    /// The answer was a reply for the proxy to send instead of forwarding.
    Respond,
    /// The call was refused (malformed): the proxy applies its own failure policy.
    Error,
}

impl DecisionOutcome {
    /// Every outcome, in the order the counters are kept.
    pub const ALL: [DecisionOutcome; 3] = [DecisionOutcome::Continue, DecisionOutcome::Respond, DecisionOutcome::Error];

    /// The outcome's `outcome` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Continue => "continue",
            DecisionOutcome::Respond => "respond",
            DecisionOutcome::Error => "error",
        }
    }
}

/// What became of a reported reply, or of a request waiting for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationOutcome {
    /// Shown to the plugins that waited for it.
    Matched,
    /// No request was waiting for it.
    Unmatched,
    /// The request's reply never came within `observe-timeout-secs`.
    Expired,
    /// Too many requests were waiting: this one was not kept.
    Dropped,
}

impl ObservationOutcome {
    /// Every outcome, in the order the counters are kept.
    pub const ALL: [ObservationOutcome; 4] = [
        ObservationOutcome::Matched,
        ObservationOutcome::Unmatched,
        ObservationOutcome::Expired,
        ObservationOutcome::Dropped,
    ];

    /// The outcome's `result` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationOutcome::Matched => "matched",
            ObservationOutcome::Unmatched => "unmatched",
            ObservationOutcome::Expired => "expired",
            ObservationOutcome::Dropped => "dropped",
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    /// From the call read to its answer ready, both front ends.
    latency: Latency,
    decisions: [[AtomicU64; 3]; 2],
    observations: [AtomicU64; 4],
    connections_open: [AtomicI64; 2],
    connections_total: [AtomicU64; 2],
}

impl Counters {
    pub(super) fn decided(&self, via: Interface, outcome: DecisionOutcome, nanos: u64) {
        self.latency.record(nanos);
        self.decisions[via.index()][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A call refused before it could be decided: counted, not timed.
    pub(super) fn refused(&self, via: Interface) {
        self.decisions[via.index()][DecisionOutcome::Error as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn observed(&self, outcome: ObservationOutcome, n: u64) {
        self.observations[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self, waiting: usize) -> DecisionStats {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DecisionStats {
            latency: self.latency.snapshot(),
            decisions: Interface::ALL
                .iter()
                .flat_map(|&via| {
                    DecisionOutcome::ALL.iter().map(move |&o| (via, o, n(&self.decisions[via.index()][o as usize])))
                })
                .collect(),
            observations: ObservationOutcome::ALL.iter().map(|&o| (o, n(&self.observations[o as usize]))).collect(),
            connections: Interface::ALL
                .iter()
                .map(|&via| {
                    let open = self.connections_open[via.index()].load(Ordering::Relaxed).max(0) as u64;
                    (via, open, n(&self.connections_total[via.index()]))
                })
                .collect(),
            waiting: waiting as u64,
        }
    }
}

/// Counts one open connection of a front end while it lives.
pub(super) struct ConnectionGuard {
    inner: Arc<super::Inner>,
    via: Interface,
}

impl ConnectionGuard {
    pub(super) fn new(inner: Arc<super::Inner>, via: Interface) -> ConnectionGuard {
        inner.counters.connections_open[via.index()].fetch_add(1, Ordering::Relaxed);
        inner.counters.connections_total[via.index()].fetch_add(1, Ordering::Relaxed);
        ConnectionGuard { inner, via }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.inner.counters.connections_open[self.via.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The decision service's counters, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionStats {
    /// Time from a `decide` call read to its answer ready.
    pub latency: LatencySnapshot,
    /// Calls by front end and outcome.
    pub decisions: Vec<(Interface, DecisionOutcome, u64)>,
    /// Reported replies and waiting requests, by what became of them.
    pub observations: Vec<(ObservationOutcome, u64)>,
    /// Per front end: connections open now, and accepted since start.
    pub connections: Vec<(Interface, u64, u64)>,
    /// Requests waiting for their reply now.
    pub waiting: u64,
}
