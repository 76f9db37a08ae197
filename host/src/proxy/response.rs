//! Responses on their way back: matched to the branch they answer, passed
//! through the response context (RFC 3261 §16.7), and sent upstream.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::time::sleep;

use super::request::{ack_for, cancel_for};
use super::transaction::{BranchState, ServerKey, T1, T2, TIMEOUT, TIMER_C, Table};
use super::{Core, via};
use crate::sip::{self, Method};
use crate::transport::{Target, Transport};

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
                if std::mem::take(&mut b.cancel_pending) {
                    actions.sends.push((b.target.clone(), Bytes::from(cancel_for(&b.request).to_bytes())));
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
                if invite && status >= 300 {
                    actions.sends.push((b.target.clone(), Bytes::from(ack_for(&b.request, &response).to_bytes())));
                } else if invite {
                    actions.sends.push((reply_to, Bytes::from(response.to_bytes())));
                }
            } else {
                tx.branches[index].state = BranchState::Final(status);
                let b = &tx.branches[index];
                if invite && status >= 300 {
                    actions.sends.push((b.target.clone(), Bytes::from(ack_for(&b.request, &response).to_bytes())));
                }
                if (200..300).contains(&status) || (invite && status >= 600) {
                    // A 2xx or 6xx ends the other branches of an INVITE.
                    for other in tx.branches.iter_mut().filter(|o| o.id != branch) {
                        match other.state {
                            BranchState::Proceeding if invite => actions
                                .sends
                                .push((other.target.clone(), Bytes::from(cancel_for(&other.request).to_bytes()))),
                            BranchState::Trying if invite => other.cancel_pending = true,
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
                        tx.expires = Instant::now() + TIMEOUT;
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
                        tx.expires = Instant::now() + TIMEOUT;
                        self.outcomes.count(&tx.method, best.status);
                        actions.finished = Some((best, reply_to, bytes));
                    }
                }
            }
            actions
        };
        for (target, bytes) in actions.sends {
            self.send(&target, bytes).await;
        }
        if let Some((response, target, bytes)) = actions.finished {
            self.observe(key, response).await;
            self.send(&target, bytes).await;
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

    /// The timers of one branch (RFC 3261 §17.1.1.2, §17.1.2.2, §16.6 step
    /// 11): retransmit over UDP (A, E), give up with a 408 (B, F), and stop
    /// an INVITE that rings too long (C).
    pub(super) async fn client_timers(self: Arc<Self>, key: ServerKey, branch: String, unreliable: bool, invite: bool) {
        let started = Instant::now();
        let mut interval = T1;
        loop {
            let wait = if unreliable { interval } else { T2 };
            sleep(wait).await;
            let (state, target, bytes, request) = {
                let table = self.table();
                let Some(b) = table.servers.get(&key).and_then(|tx| tx.branches.iter().find(|b| b.id == branch)) else {
                    return;
                };
                (b.state, b.target.clone(), b.bytes.clone(), b.request.clone())
            };
            let elapsed = started.elapsed();
            match state {
                BranchState::Final(_) => return,
                BranchState::Trying if elapsed >= TIMEOUT => {
                    return self.time_out(&key, &branch, &request).await;
                }
                BranchState::Proceeding if invite && elapsed >= TIMER_C => {
                    self.send(&target, Bytes::from(cancel_for(&request).to_bytes())).await;
                    return self.time_out(&key, &branch, &request).await;
                }
                BranchState::Proceeding if !invite && elapsed >= TIMEOUT => {
                    return self.time_out(&key, &branch, &request).await;
                }
                BranchState::Trying | BranchState::Proceeding => {
                    let retransmit = unreliable && (state == BranchState::Trying || !invite);
                    if retransmit && target.transport == Transport::Udp {
                        self.send(&target, bytes).await;
                    }
                    interval = if invite { interval * 2 } else { (interval * 2).min(T2) };
                }
            }
        }
    }

    async fn time_out(self: &Arc<Self>, key: &ServerKey, branch: &str, request: &sip::Request) {
        let mut timeout = sip::Response::to_request(request, 408, "Request Timeout");
        via::pop_top(&mut timeout.headers);
        self.branch_response(key, branch, timeout).await;
    }
}
