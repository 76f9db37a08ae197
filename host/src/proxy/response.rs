//! Responses on their way back: matched to the branch they answer, passed
//! through the response context (RFC 3261 §16.7), and sent upstream.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::request::{ack_for, cancel_for};
use super::timers::BranchTimer;
use super::transaction::{BranchState, ServerKey, T2, TIMEOUT, TIMER_C, Table};
use super::{Core, via};
use crate::sip::{self, Method};
use crate::transport::{Target, Transport};

/// What a branch's timer does when it fires, taken out of the lock.
enum TimerAction {
    /// Still waiting for an answer: go on waiting.
    Wait,
    /// Send the request again (UDP, timers A and E).
    Retransmit(Target, Bytes),
    /// Give up with a 408 (timers B, F and C), after a CANCEL for C. The
    /// request is `None` only if its bytes no longer parse, which cannot
    /// happen for bytes this proxy wrote.
    TimeOut(Option<sip::Request>, Option<(Target, Bytes)>),
}

/// What the response context decided to send, taken out of the lock.
#[derive(Default)]
struct Actions {
    sends: Vec<(Target, Bytes)>,
    /// The server transaction's final response: observed first, then sent.
    finished: Option<(sip::Response, Target, Bytes)>,
}

impl Core {
    pub(super) async fn on_response(self: &Arc<Self>, mut response: sip::Response) {
        let Some(top) = via::top(&response.headers) else { return };
        let Some(branch) = top.branch().filter(|b| via::is_ours(b)).map(str::to_string) else {
            // RFC 3261 §16.7 step 1: not sent by us; drop it.
            if self.quiet.allow() {
                tracing::info!(via = %top, "dropped a response whose top Via is not ours");
            }
            return;
        };
        if response.cseq().is_some_and(|(_, m)| m == Method::CANCEL) {
            // The answer to a CANCEL we sent: we answered the upstream CANCEL ourselves.
            return;
        }
        via::pop_top(&mut response.headers);
        let key = self.table().branches.get(&branch).cloned();
        match key {
            Some(key) => self.branch_response(&key, &branch, response).await,
            None => self.forward_response_statelessly(response).await,
        }
    }

    /// A response to one branch, including the ones we synthesize (408 on
    /// timeout, 503 when the next hop cannot be reached).
    pub(super) async fn branch_response(self: &Arc<Self>, key: &ServerKey, branch: &str, response: sip::Response) {
        let actions = {
            let mut table = self.table();
            let Some(tx) = table.servers.get_mut(key) else { return };
            let mut actions = Actions::default();
            let reply_to = tx.reply_to.clone();
            let invite = tx.method == Method::INVITE;
            let Some(index) = tx.branches.iter().position(|b| b.id == branch) else { return };
            let status = response.status;

            if status < 200 {
                let b = &mut tx.branches[index];
                if b.state == BranchState::Trying {
                    b.state = BranchState::Proceeding;
                }
                if std::mem::take(&mut b.cancel_pending)
                    && let Some(invite) = &b.invite
                {
                    actions.sends.push((b.target.clone(), Bytes::from(cancel_for(invite).to_bytes())));
                }
                if status > 100 && tx.final_response.is_none() {
                    let bytes = Bytes::from(response.to_bytes());
                    tx.provisional = Some(bytes.clone());
                    actions.sends.push((reply_to, bytes));
                }
            } else if let BranchState::Final(_) = tx.branches[index].state {
                // A retransmitted final response: ACK a non-2xx again; pass a
                // 2xx on (the UAS retransmits it until the caller's ACK).
                let b = &tx.branches[index];
                if let Some(request) = b.invite.as_ref().filter(|_| status >= 300) {
                    actions.sends.push((b.target.clone(), Bytes::from(ack_for(request, &response).to_bytes())));
                } else if invite {
                    actions.sends.push((reply_to, Bytes::from(response.to_bytes())));
                }
            } else {
                tx.branches[index].finalize(status);
                let b = &tx.branches[index];
                if let Some(request) = b.invite.as_ref().filter(|_| status >= 300) {
                    actions.sends.push((b.target.clone(), Bytes::from(ack_for(request, &response).to_bytes())));
                }
                if (200..300).contains(&status) || (invite && status >= 600) {
                    // A 2xx or 6xx ends the other branches of an INVITE.
                    for other in tx.branches.iter_mut().filter(|o| o.id != branch) {
                        match (other.state, &other.invite) {
                            (BranchState::Proceeding, Some(request)) => {
                                actions.sends.push((other.target.clone(), Bytes::from(cancel_for(request).to_bytes())))
                            }
                            (BranchState::Trying, Some(_)) => other.cancel_pending = true,
                            _ => {}
                        }
                    }
                }
                if (200..300).contains(&status) {
                    // 2xx always go upstream, each of them (RFC 3261 §16.7 step 5).
                    let bytes = Bytes::from(response.to_bytes());
                    if tx.final_response.is_none() {
                        tx.final_response = Some(bytes.clone());
                        tx.accepted = true;
                        tx.expires = Instant::now() + tx.linger();
                        self.outcomes.count(&tx.method, status);
                        actions.finished = Some((response, reply_to, bytes));
                    } else {
                        actions.sends.push((reply_to, bytes));
                    }
                } else if tx.final_response.is_none() {
                    if Table::better(tx.best.as_ref(), &response) {
                        tx.best = Some(response);
                    }
                    if tx.all_final()
                        && let Some(mut best) = tx.best.take()
                    {
                        if best.status == 503 {
                            // RFC 3261 §16.7 step 6: a 503 from downstream
                            // would tell the caller that *we* are overloaded.
                            best.status = 500;
                            best.reason = "Server Internal Error".into();
                        }
                        let bytes = Bytes::from(best.to_bytes());
                        tx.final_response = Some(bytes.clone());
                        tx.expires = Instant::now() + tx.linger();
                        self.outcomes.count(&tx.method, best.status);
                        actions.finished = Some((best, reply_to, bytes));
                    }
                }
            }
            if actions.finished.is_none() {
                // A late branch of a finished transaction (a fork that
                // answered after another's 2xx): maybe the last one.
                table.complete_if_done(key);
            }
            actions
        };
        for (target, bytes) in actions.sends {
            self.send(&target, bytes).await;
        }
        if let Some((response, target, bytes)) = actions.finished {
            self.send_final(key, response, &target, bytes).await;
        }
    }

    /// A response with our Via but no transaction left (a 2xx retransmitted
    /// after the INVITE transaction ended, the answer to a statelessly
    /// forwarded request): sent on by the next Via.
    async fn forward_response_statelessly(&self, response: sip::Response) {
        let Some(next) = via::top(&response.headers) else { return };
        let (Some(transport), Some(addr)) = (next.transport(), next.response_addr()) else { return };
        let target = Target { transport, addr, flow: None, server_name: None };
        self.send(&target, Bytes::from(response.to_bytes())).await;
    }

    /// Arm a branch's next timer (RFC 3261 §17.1.1.2, §17.1.2.2, §16.6
    /// step 11): over UDP at its retransmission interval, over a stream
    /// every T2, to check the timeouts.
    pub(super) fn arm(&self, timer: BranchTimer) {
        let wait = if timer.unreliable { timer.interval } else { T2 };
        self.timers.arm(Instant::now() + wait, timer);
    }

    /// A branch's timer fired: retransmit over UDP (A, E), give up with a
    /// 408 (B, F), stop an INVITE that rings too long (C), or wait again.
    pub(super) async fn on_timer(self: Arc<Self>, mut timer: BranchTimer) {
        let elapsed = timer.started.elapsed();
        let (key, branch, invite, unreliable) = (&timer.key, timer.branch.as_str(), timer.invite, timer.unreliable);
        // Most branches are answered long before their first timer fires:
        // look at the state under the lock and take out only what the
        // timer's action needs.
        let action = {
            let mut table = self.table();
            let tx = table.servers.get_mut(key);
            let Some(b) = tx.and_then(|tx| tx.branches.iter_mut().find(|b| b.id == branch)) else {
                return;
            };
            match b.state {
                BranchState::Final(_) => return,
                BranchState::Trying if elapsed >= TIMEOUT => TimerAction::TimeOut(b.request(), None),
                BranchState::Proceeding if invite && elapsed >= TIMER_C => {
                    let cancel = b.invite.as_ref().map(|invite| Bytes::from(cancel_for(invite).to_bytes()));
                    TimerAction::TimeOut(b.request(), cancel.map(|cancel| (b.target.clone(), cancel)))
                }
                BranchState::Proceeding if !invite && elapsed >= TIMEOUT => TimerAction::TimeOut(b.request(), None),
                state => {
                    let retransmit = unreliable && (state == BranchState::Trying || !invite);
                    match &b.bytes {
                        Some(bytes) if retransmit && b.target.transport == Transport::Udp => {
                            let action = TimerAction::Retransmit(b.target.clone(), bytes.clone());
                            b.retransmitted = true;
                            action
                        }
                        _ => TimerAction::Wait,
                    }
                }
            }
        };
        match action {
            TimerAction::TimeOut(request, cancel) => {
                if let Some((target, cancel)) = cancel {
                    self.send(&target, cancel).await;
                }
                match request {
                    Some(request) => self.time_out(key, branch, &request).await,
                    None => {
                        tracing::error!(%branch, "a forwarded request no longer parses; its branch is left to expire")
                    }
                }
                return;
            }
            TimerAction::Retransmit(target, bytes) => {
                self.send(&target, bytes).await;
            }
            TimerAction::Wait => {}
        }
        timer.interval = if invite { timer.interval * 2 } else { (timer.interval * 2).min(T2) };
        self.arm(timer);
    }

    async fn time_out(self: &Arc<Self>, key: &ServerKey, branch: &str, request: &sip::Request) {
        let mut timeout = sip::Response::to_request(request, 408, "Request Timeout");
        via::pop_top(&mut timeout.headers);
        self.branch_response(key, branch, timeout).await;
    }
}
