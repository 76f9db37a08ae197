//! Final outcomes of server transactions, counted by request method and
//! final status, for the admin API's metrics.
//!
//! Counted once per transaction, when its final response is decided (by a
//! policy, by the proxy itself, or as the best response of its branches);
//! retransmissions of that response are not counted again.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::sip::Method;

/// The methods counted by name. Any other method is counted as `other`: the
/// method is whatever a peer sends, and a label per invented method would let
/// anyone grow the metrics without bound.
const KNOWN: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// Counts of final responses.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

/// How many transactions of a method ended with a status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TransactionCount {
    /// The request method, or `other` for a method outside the standard
    /// ones (so that a peer cannot invent labels without bound).
    pub method: &'static str,
    /// The final status, 200 to 699.
    pub status: u16,
    /// Transactions that ended so, since the proxy started.
    pub count: u64,
}

impl Outcomes {
    pub(super) fn count(&self, method: &Method, status: u16) {
        let name = KNOWN.iter().copied().find(|m| *m == method.as_str()).unwrap_or("other");
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner).entry((name, status)).or_default() += 1;
    }

    pub(super) fn snapshot(&self) -> Vec<TransactionCount> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(&(method, status), &count)| TransactionCount { method, status, count }).collect()
    }
}
