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
    /// The request was sent more than once (UDP, Timers A and E), so the
    /// next hop may answer more than once.
    pub retransmitted: bool,
}

impl Branch {
    pub fn new(id: String, target: Target, request: sip::Request, bytes: Bytes) -> Branch {
        let invite = (request.method == Method::INVITE).then_some(request);
        Branch {
            id,
            target,
            bytes: Some(bytes),
            invite,
            state: BranchState::Trying,
            cancel_pending: false,
            retransmitted: false,
        }
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
    /// Whether the final response may be resent: only once its observers
    /// have seen it. A retransmission that arrives while an audit record
    /// is being written is absorbed, as before any response, so that no
    /// client learns an outcome before it is recorded.
    pub released: bool,
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
            released: false,
            accepted: false,
            branches: Vec::new(),
            best: None,
            expires: now + lifetime,
        }
    }

    /// What a retransmission of the request gets: the final response once
    /// it is released, else the last provisional one (none yet: absorbed).
    pub fn resend(&self) -> Option<&Bytes> {
        self.final_response.as_ref().filter(|_| self.released).or(self.provisional.as_ref())
    }

    /// Whether every branch has a final response.
    pub fn all_final(&self) -> bool {
        self.branches.iter().all(|b| matches!(b.state, BranchState::Final(_)))
    }

    /// Whether all that is left of the transaction is to answer
    /// retransmissions of its request: a non-INVITE transaction with its
    /// final response sent and every branch answered.
    pub fn is_done(&self) -> bool {
        self.method != Method::INVITE && self.released && self.all_final()
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

/// A finished non-INVITE server transaction (RFC 3261 §17.2.2, Completed):
/// until Timer J it answers retransmissions of its request with its final
/// response, to the retransmission's own source. Nothing else of it is
/// kept: at thousands of requests a second these are most of the table.
pub struct Completed {
    pub response: Bytes,
    pub expires: Instant,
}

/// Every transaction in flight, and the finished ones still absorbing
/// retransmissions.
#[derive(Default)]
pub struct Table {
    pub servers: HashMap<ServerKey, ServerTx>,
    pub completed: HashMap<ServerKey, Completed>,
    /// Branch id → the server transaction it belongs to.
    pub branches: HashMap<String, ServerKey>,
}

impl Table {
    /// Transactions held, in flight or completed: what `max_transactions`
    /// bounds.
    pub fn len(&self) -> usize {
        self.servers.len() + self.completed.len()
    }

    /// The final response's observers are done: let retransmissions have
    /// it, and complete the transaction if nothing else is left of it.
    pub fn release(&mut self, key: &ServerKey) {
        if let Some(tx) = self.servers.get_mut(key) {
            tx.released = true;
        }
        self.complete_if_done(key);
    }

    /// Move a transaction that [`ServerTx::is_done`] to `completed`.
    ///
    /// Its branches are forgotten, except those whose request was
    /// retransmitted: only their next hop may still answer again, and that
    /// answer is absorbed (it finds the branch, and no transaction in
    /// flight). A late answer to a forgotten branch is forwarded statelessly
    /// (RFC 3261 §16.7 step 1), which for a branch sent once means a
    /// next hop that answered one request twice.
    pub fn complete_if_done(&mut self, key: &ServerKey) {
        if !self.servers.get(key).is_some_and(ServerTx::is_done) {
            return;
        }
        let Some((key, tx)) = self.servers.remove_entry(key) else { return };
        for branch in tx.branches.iter().filter(|b| !b.retransmitted) {
            self.branches.remove(&branch.id);
        }
        if let Some(response) = tx.final_response {
            self.completed.insert(key, Completed { response, expires: tx.expires });
        }
    }

    /// Forget transactions whose time is up; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        let before = self.len();
        self.servers.retain(|_, tx| tx.expires > now);
        self.completed.retain(|_, tx| tx.expires > now);
        let removed = before - self.len();
        if removed > 0 {
            // A completed transaction no longer lists its branches: find
            // them by the transaction they point at.
            let (servers, completed) = (&self.servers, &self.completed);
            self.branches.retain(|_, key| servers.contains_key(key) || completed.contains_key(key));
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

    fn message(branch: &str) -> sip::Request {
        let text = format!(
            "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
        );
        match sip::parse(text.as_bytes()) {
            Ok(sip::Message::Request(request)) => request,
            other => panic!("{other:?}"),
        }
    }

    fn target() -> Target {
        Target {
            transport: crate::transport::Transport::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
            flow: None,
            server_name: None,
        }
    }

    /// A finished MESSAGE keeps only its response for retransmissions; of
    /// its branches only one whose request was retransmitted stays
    /// findable, and purging at Timer J forgets both.
    #[test]
    fn a_finished_transaction_keeps_its_response_and_its_retransmitted_branches() {
        let request = message("z9hG4bK-a");
        let key = ServerKey::of(&request).unwrap();
        let now = Instant::now();
        let mut table = Table::default();
        let mut tx = ServerTx::new(Method::MESSAGE, target(), now);
        for (id, retransmitted) in [("z9hG4bK-b1", false), ("z9hG4bK-b2", true)] {
            let mut branch = Branch::new(id.into(), target(), request.clone(), Bytes::from_static(b"sent"));
            branch.finalize(200);
            branch.retransmitted = retransmitted;
            assert!(branch.bytes.is_none() && branch.invite.is_none(), "a final non-INVITE branch keeps nothing");
            table.branches.insert(id.into(), key.clone());
            tx.branches.push(branch);
        }
        table.servers.insert(key.clone(), tx);

        // Not done until the final response went upstream.
        table.complete_if_done(&key);
        assert!(table.completed.is_empty());
        let tx = table.servers.get_mut(&key).unwrap();
        tx.final_response = Some(Bytes::from_static(b"SIP/2.0 200 OK"));
        tx.expires = now + TIMEOUT;
        // Nor while its observers have not seen it.
        table.complete_if_done(&key);
        assert!(table.completed.is_empty());
        table.release(&key);

        assert!(table.servers.is_empty());
        assert_eq!(table.completed[&key].response, Bytes::from_static(b"SIP/2.0 200 OK"));
        assert_eq!(table.branches.keys().collect::<Vec<_>>(), ["z9hG4bK-b2"]);
        assert_eq!(table.len(), 1);

        assert_eq!(table.purge(now + TIMEOUT / 2), 0);
        assert_eq!(table.purge(now + TIMEOUT), 1);
        assert!(table.completed.is_empty() && table.branches.is_empty());
    }

    /// A fresh INVITE server transaction, and its key.
    fn invite_transaction(branch: &str) -> (ServerKey, ServerTx) {
        let mut invite = message(branch);
        invite.method = Method::INVITE;
        let key = ServerKey::of(&invite).unwrap();
        (key, ServerTx::new(Method::INVITE, target(), Instant::now()))
    }

    /// A retransmission gets the final response only after its observers
    /// saw it: until then, what it would have got before the answer.
    #[test]
    fn a_final_response_is_resent_only_once_observed() {
        let (key, mut tx) = invite_transaction("z9hG4bK-o");
        let mut table = Table::default();
        assert_eq!(tx.resend(), None);
        tx.provisional = Some(Bytes::from_static(b"SIP/2.0 100 Trying"));
        tx.final_response = Some(Bytes::from_static(b"SIP/2.0 403 Forbidden"));
        assert_eq!(tx.resend(), Some(&Bytes::from_static(b"SIP/2.0 100 Trying")));
        table.servers.insert(key.clone(), tx);
        table.release(&key);
        assert_eq!(table.servers[&key].resend(), Some(&Bytes::from_static(b"SIP/2.0 403 Forbidden")));
    }

    /// INVITE transactions stay whole: CANCEL, ACK and 2xx forwarding need them.
    #[test]
    fn an_invite_is_never_moved_to_completed() {
        let (key, mut tx) = invite_transaction("z9hG4bK-i");
        let mut table = Table::default();
        tx.final_response = Some(Bytes::from_static(b"SIP/2.0 486 Busy Here"));
        table.servers.insert(key.clone(), tx);
        table.release(&key);
        assert!(table.servers.contains_key(&key) && table.completed.is_empty());
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
