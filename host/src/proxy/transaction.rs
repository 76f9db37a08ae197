//! Transaction state of the stateful proxy (RFC 3261 §17, §16.7).
//!
//! A *server transaction* is a request as it arrived: it absorbs
//! retransmissions (answering them with the last response, never running the
//! policy chain twice), holds the response context of its forwarded copies
//! and the plugins waiting to observe its outcome. Each forwarded copy is a
//! *branch* (a client transaction) keyed by the branch parameter of the Via
//! this proxy added.
//!
//! The table is plain data under one mutex; nothing here awaits. The proxy
//! takes what it needs to send out of the lock and sends afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::via;
use crate::policy::Plugin;
use crate::sip::{self, Method};
use crate::transport::{Origin, Target};

/// RFC 3261 §17.1.1.1 timer defaults.
pub const T1: Duration = Duration::from_millis(500);
pub const T2: Duration = Duration::from_secs(4);
/// Timers B, F and J: how long a transaction waits (64·T1).
pub const TIMEOUT: Duration = Duration::from_secs(32);
/// Timer C: how long an INVITE branch may ring (RFC 3261 §16.6 step 11).
pub const TIMER_C: Duration = Duration::from_secs(180);

/// What identifies a server transaction (RFC 3261 §17.2.3): the top branch,
/// its sent-by and the method, ACK matching the INVITE it acknowledges. For
/// RFC 2543 peers without the magic cookie, the request's identity instead.
///
/// Kept as one string, `METHOD SP branch SP sent-by`, since the table holds
/// tens of thousands (completed transactions wait 32 s for
/// retransmissions) and each is also the value of its branches' entries:
/// one allocation instead of three. Neither the method (a token) nor the
/// sent-by contains a space, so the three parts cannot run into each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey(Box<str>);

impl ServerKey {
    pub fn of(request: &sip::Request) -> Option<ServerKey> {
        let top = via::top(&request.headers)?;
        let method = if request.method == Method::ACK { Method::INVITE } else { request.method.clone() };
        let sent_by = top.sent_by().to_ascii_lowercase();
        let key = match top.branch() {
            Some(b) if b.starts_with(via::MAGIC_COOKIE) => format!("{method} {b} {sent_by}"),
            _ => format!(
                "{method} 2543:{}:{}:{}:{} {sent_by}",
                request.call_id().unwrap_or_default(),
                request.from_tag().unwrap_or_default(),
                request.cseq().map(|(n, _)| n).unwrap_or_default(),
                request.uri
            ),
        };
        Some(ServerKey(key.into_boxed_str()))
    }

    /// The key of the INVITE a CANCEL refers to (RFC 3261 §9.2).
    pub fn invite_of_cancel(cancel: &sip::Request) -> Option<ServerKey> {
        let key = ServerKey::of(cancel)?;
        let (_, rest) = key.0.split_once(' ')?;
        Some(ServerKey(format!("{} {rest}", Method::INVITE).into_boxed_str()))
    }
}

/// Where a branch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchState {
    /// Sent, nothing heard yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived (or was synthesized on timeout).
    Final(u16),
}

/// One forwarded copy of a request.
///
/// What a branch keeps of its request is what its remaining work needs. A
/// completed transaction is kept for 32 s over UDP (Timer J) to absorb
/// retransmissions, so at thousands of requests a second the request copies
/// are most of the proxy's memory unless they go as soon as they are done.
pub struct Branch {
    pub id: String,
    pub target: Target,
    /// The request as sent (with our Via), for retransmission and for the
    /// 408 of a timeout. `None` once a non-INVITE branch is final.
    pub bytes: Option<Bytes>,
    /// For an INVITE, the request as sent, parsed: CANCEL and ACK are built
    /// from it for as long as the transaction lives.
    pub invite: Option<sip::Request>,
    pub state: BranchState,
    /// A CANCEL arrived before this branch answered: RFC 3261 §9.1 lets a
    /// CANCEL go out only once a provisional response has.
    pub cancel_pending: bool,
}

impl Branch {
    pub fn new(id: String, target: Target, request: sip::Request, bytes: Bytes) -> Branch {
        let invite = (request.method == Method::INVITE).then_some(request);
        Branch { id, target, bytes: Some(bytes), invite, state: BranchState::Trying, cancel_pending: false }
    }

    /// The request as sent, to answer it with a 408 when it times out.
    pub fn request(&self) -> Option<sip::Request> {
        if let Some(invite) = &self.invite {
            return Some(invite.clone());
        }
        match sip::parse(self.bytes.as_ref()?) {
            Ok(sip::Message::Request(request)) => Some(request),
            _ => None,
        }
    }

    /// Record a final response; a non-INVITE branch then needs nothing of
    /// its request any more (a retransmitted final response is absorbed).
    pub fn finalize(&mut self, status: u16) {
        self.state = BranchState::Final(status);
        if self.invite.is_none() {
            self.bytes = None;
        }
    }
}

/// A request as it arrived, and what became of it.
pub struct ServerTx {
    pub method: Method,
    /// Where responses go: the request's source (RFC 3581) or its connection.
    pub reply_to: Target,
    /// The request as the chain left it, while something still needs it:
    /// the observers of its final response, or a CANCEL that ends an INVITE
    /// before it was forwarded.
    pub decided: Option<Box<Decided>>,
    /// The last provisional response sent upstream, resent on a retransmitted INVITE.
    pub provisional: Option<Bytes>,
    /// The final response sent upstream, resent on any retransmission.
    pub final_response: Option<Bytes>,
    /// For INVITE: a 2xx went upstream; other branches are being cancelled.
    pub accepted: bool,
    pub branches: Vec<Branch>,
    /// The best final response so far (§16.7 step 6), until every branch is final.
    pub best: Option<sip::Response>,
    /// When the transaction may be forgotten.
    pub expires: Instant,
}

/// What the chain decided about a request, for what comes after.
pub struct Decided {
    pub request: sip::Request,
    pub origin: Origin,
    /// Plugins that asked to see the final response.
    pub observers: Vec<Arc<Plugin>>,
}

impl ServerTx {
    pub fn new(method: Method, reply_to: Target, now: Instant) -> ServerTx {
        let lifetime = if method == Method::INVITE { TIMER_C + TIMEOUT } else { TIMEOUT + TIMEOUT };
        ServerTx {
            method,
            reply_to,
            decided: None,
            provisional: None,
            final_response: None,
            accepted: false,
            branches: Vec::new(),
            best: None,
            expires: now + lifetime,
        }
    }

    /// Whether every branch has a final response.
    pub fn all_final(&self) -> bool {
        self.branches.iter().all(|b| matches!(b.state, BranchState::Final(_)))
    }

    /// Once a non-INVITE transaction has its final response and every
    /// branch has answered, all it does until Timer J (RFC 3261 §17.2.2) is
    /// resend that response to retransmissions: keep only that. Late
    /// responses to its branches then find no branch and are absorbed.
    pub fn compact_if_done(&mut self) {
        if self.method != Method::INVITE && self.final_response.is_some() && self.all_final() {
            self.branches = Vec::new();
            self.provisional = None;
            self.best = None;
            self.decided = None;
        }
    }

    /// How long a transaction that sent its final response is kept: Timer J
    /// (RFC 3261 §17.2.2), 64·T1 for an unreliable transport (to absorb the
    /// request's retransmissions), none for a reliable one. INVITE keeps
    /// the 64·T1 of Timers H and the forwarding of retransmitted 2xx.
    pub fn linger(&self) -> Duration {
        if self.method == Method::INVITE || self.reply_to.transport == crate::transport::Transport::Udp {
            TIMEOUT
        } else {
            Duration::ZERO
        }
    }
}

/// Every transaction in flight.
#[derive(Default)]
pub struct Table {
    pub servers: HashMap<ServerKey, ServerTx>,
    /// Branch id → the server transaction it belongs to.
    pub branches: HashMap<String, ServerKey>,
}

impl Table {
    /// Forget transactions whose time is up; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        let before = self.servers.len();
        self.servers.retain(|_, tx| tx.expires > now);
        let removed = before - self.servers.len();
        if removed > 0 {
            // A compacted transaction no longer lists its branches: find
            // them by the transaction they point at.
            let servers = &self.servers;
            self.branches.retain(|_, key| servers.contains_key(key));
        }
        removed
    }

    /// Which response wins the response context (RFC 3261 §16.7 step 6):
    /// any 6xx, else the lowest class, with 503 turned into 500 when it goes
    /// upstream (a downstream overload is not ours to report).
    pub fn better(current: Option<&sip::Response>, candidate: &sip::Response) -> bool {
        let Some(current) = current else { return true };
        let class = |s: u16| s / 100;
        match (class(current.status), class(candidate.status)) {
            (6, _) => false,
            (_, 6) => true,
            (a, b) => b < a || (b == a && candidate.status < current.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> sip::Response {
        sip::Response { status, reason: String::new(), headers: sip::Headers::new(), body: Vec::new() }
    }

    #[test]
    fn best_response() {
        assert!(Table::better(None, &response(486)));
        assert!(Table::better(Some(&response(486)), &response(302)));
        assert!(!Table::better(Some(&response(302)), &response(486)));
        assert!(Table::better(Some(&response(404)), &response(603)));
        assert!(!Table::better(Some(&response(603)), &response(302)));
        assert!(Table::better(Some(&response(480)), &response(404)));
    }
}
