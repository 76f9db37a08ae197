//! Counters for the admin API, and the throttle that keeps a misbehaving
//! crowd of peers from filling the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// A snapshot of the transport counters, all since [`super::TransportLayer::bind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TransportStats {
    /// UDP datagrams received, keep-alives and oversized ones included.
    pub datagrams_in: u64,
    /// UDP datagrams sent.
    pub datagrams_out: u64,
    /// Datagrams larger than `max_message_bytes`, not delivered.
    pub datagrams_dropped: u64,
    /// Stream connections open now, inbound and outbound.
    pub connections_open: u64,
    /// Inbound TCP and TLS connections accepted (before any TLS handshake);
    /// those refused at the limit are not counted here.
    pub connections_accepted: u64,
    /// Outbound connections this proxy opened.
    pub connections_opened: u64,
    /// Inbound connections closed at once because `max_connections` was reached.
    pub connections_refused: u64,
    /// Connections closed for `header_timeout` or `idle_timeout`.
    pub connections_timed_out: u64,
    /// Stream connections closed because their bytes could not be framed.
    pub framing_errors: u64,
    /// Bytes received, UDP and streams together; over TLS, the decrypted bytes.
    pub bytes_in: u64,
    /// Bytes sent, UDP and streams together (keep-alive answers included);
    /// over TLS, before encryption.
    pub bytes_out: u64,
}

/// The live counters behind [`TransportStats`]. Relaxed atomics: each counter
/// is exact, but a snapshot is not taken at one instant across all of them.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub datagrams_dropped: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_opened: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_timed_out: AtomicU64,
    pub framing_errors: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Adds one to a counter.
pub(super) fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

pub(super) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self, connections_open: usize) -> TransportStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStats {
            datagrams_in: get(&self.datagrams_in),
            datagrams_out: get(&self.datagrams_out),
            datagrams_dropped: get(&self.datagrams_dropped),
            connections_open: connections_open as u64,
            connections_accepted: get(&self.connections_accepted),
            connections_opened: get(&self.connections_opened),
            connections_refused: get(&self.connections_refused),
            connections_timed_out: get(&self.connections_timed_out),
            framing_errors: get(&self.framing_errors),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
        }
    }
}

/// Lets one log line of a kind through per interval and counts the ones held
/// back, so that the line that does get through can say how many there were.
#[derive(Debug)]
pub(super) struct LogThrottle {
    epoch: Instant,
    /// Milliseconds after `epoch` before which nothing more is logged.
    quiet_until: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    const INTERVAL: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        LogThrottle { epoch: Instant::now(), quiet_until: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` if this line may be logged, `n` lines having been held back
    /// since the last one; `None` if it is to be held back.
    pub fn permit(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let until = self.quiet_until.load(Ordering::Relaxed);
        let next = now + Self::INTERVAL.as_millis() as u64;
        if now >= until && self.quiet_until.compare_exchange(until, next, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_line_through_per_interval() {
        let throttle = LogThrottle::new();
        assert_eq!(throttle.permit(), Some(0));
        for _ in 0..1000 {
            assert_eq!(throttle.permit(), None);
        }
        throttle.quiet_until.store(0, Ordering::Relaxed);
        assert_eq!(throttle.permit(), Some(1000));
    }
}
