//! A request from arrival to its answer or its forwarded copies.
//!
//! Order matters: retransmissions are absorbed before anything else (so the
//! chain never runs twice for one request), hop-by-hop checks (Max-Forwards,
//! loops, Proxy-Require) run before the chain (a looping request must not
//! cost policy time), then the chain decides, then routing.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::route::{self, Decision, Hop};
use super::timers::BranchTimer;
use super::transaction::{Branch, BranchState, Decided, ServerKey, ServerTx};
use super::{Core, reply_target, via};
use crate::policy::{Decision as Verdict, Reply};
use crate::registrar::FlowToken;
use crate::sip::{self, Method};
use crate::transport::{Flow, Origin, Target, Transport};

/// What an arriving request is to the transaction table.
enum Arrival {
    New,
    /// Seen before: resend the last response, if there is one yet.
    Retransmission(Option<Bytes>),
    /// Too many transactions in flight.
    Overloaded,
}

/// Max-Forwards a proxy adds when the request has none (RFC 3261 §16.6 step 3).
const DEFAULT_MAX_FORWARDS: u32 = 70;

impl Core {
    pub(super) async fn on_request(self: &Arc<Self>, mut request: sip::Request, origin: Origin, flow: Flow) {
        via::stamp_received(&mut request, &origin);
        let Some(key) = ServerKey::of(&request) else { return };
        let reply_to = reply_target(&origin, flow, via::top(&request.headers).as_ref());

        if request.method == Method::ACK {
            return self.on_ack(request, origin, key).await;
        }
        if request.method == Method::CANCEL {
            return self.on_cancel(request, origin, reply_to).await;
        }

        // A retransmission gets the last response again, and nothing else.
        let arrival = {
            let mut table = self.table();
            match table.servers.get(&key) {
                Some(tx) => Arrival::Retransmission(tx.resend().cloned()),
                None if let Some(done) = table.completed.get(&key) => {
                    Arrival::Retransmission(Some(done.response.clone()))
                }
                None if table.len() >= self.options.max_transactions => Arrival::Overloaded,
                None => {
                    let tx = ServerTx::new(request.method.clone(), reply_to.clone(), Instant::now());
                    table.servers.insert(key.clone(), tx);
                    Arrival::New
                }
            }
        };
        match arrival {
            Arrival::New => {}
            Arrival::Retransmission(Some(last)) => {
                self.send(&reply_to, last).await;
                return;
            }
            Arrival::Retransmission(None) => return,
            Arrival::Overloaded => {
                self.outcomes.count(&request.method, 503);
                let response = sip::Response::to_request(&request, 503, "Service Unavailable");
                self.send(&reply_to, Bytes::from(response.to_bytes())).await;
                return;
            }
        }

        if request.method == Method::INVITE {
            // RFC 3261 §16.2: stop the caller's retransmissions while we work.
            let trying = Bytes::from(sip::Response::to_request(&request, 100, "Trying").to_bytes());
            if let Some(tx) = self.table().servers.get_mut(&key) {
                tx.provisional = Some(trying.clone());
            }
            self.send(&reply_to, trying).await;
        }

        let loop_hash = via::loop_hash(&request);
        if let Some((status, reason, extra)) = self.hop_checks(&request, &loop_hash) {
            return self.answer(&key, &request, status, reason, extra).await;
        }

        let chain = self.chain.load();
        let outcome = if chain.may_block(&request.method) {
            // A plugin that sees this method may wait on a disk or the
            // network (strict audit, ENUM): off the I/O threads.
            match tokio::task::spawn_blocking(move || chain.decide(request, origin)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // The chain itself never panics on plugin behaviour; if the
                    // task died anyway the transaction is forgotten and the
                    // caller retries.
                    tracing::error!("policy chain task failed");
                    self.table().servers.remove(&key);
                    return;
                }
            }
        } else {
            // CPU only, bounded by each plugin's deadline: decided here, on
            // the thread that received the request, without a hand-off.
            chain.decide(request, origin)
        };
        let mut request = outcome.request;
        let origin = outcome.origin;
        if let Some(tx) = self.table().servers.get_mut(&key) {
            // Kept for what may still need the request as decided: the
            // observers of its final response, and a CANCEL that ends an
            // INVITE before it was forwarded.
            if !outcome.observers.is_empty() || request.method == Method::INVITE {
                let observers = outcome.observers;
                tx.decided = Some(Box::new(Decided { request: request.clone(), origin: origin.clone(), observers }));
            }
        }

        if let Verdict::Respond { reply, .. } = outcome.decision {
            return self.answer_reply(&key, &request, reply).await;
        }

        let decision = route::route(&self.local, self.registrar.as_deref(), self.upstream.as_ref(), &mut request).await;
        match decision {
            Decision::Register => {
                let token = match flow {
                    Flow::Stream(id) => Some(FlowToken(id.raw())),
                    Flow::Datagram => None,
                };
                let response = match &self.registrar {
                    Some(registrar) => registrar.register(&request, &origin, token, Instant::now()),
                    None => sip::Response::to_request(&request, 404, "Not Found"),
                };
                self.finish(&key, response).await;
            }
            Decision::Options => self.answer(&key, &request, 200, "OK", Vec::new()).await,
            Decision::Refuse(why) => self.answer(&key, &request, why.status(), &why.to_string(), Vec::new()).await,
            Decision::Forward(hops) => self.forward(&key, request, &origin, &loop_hash, hops).await,
        }
    }

    /// RFC 3261 §16.3: checks a proxy makes before doing anything with a request.
    fn hop_checks(&self, request: &sip::Request, loop_hash: &str) -> Option<(u16, &'static str, Vec<sip::Header>)> {
        if request.max_forwards() == Some(0) {
            return Some((483, "Too Many Hops", Vec::new()));
        }
        if via::is_loop(request, loop_hash) {
            return Some((482, "Loop Detected", Vec::new()));
        }
        // We support no option tags a proxy could be required to understand.
        let required: Vec<&str> =
            request.headers.get_all("Proxy-Require").flat_map(|v| v.split(',')).map(str::trim).collect();
        if !required.is_empty() {
            // Option tags read from the message are one line: the field is made.
            let unsupported = sip::Header::new("Unsupported", required.join(", "));
            return Some((420, "Bad Extension", unsupported.into_iter().collect()));
        }
        None
    }

    /// Answer a request here, with a response of our own.
    async fn answer(
        self: &Arc<Self>,
        key: &ServerKey,
        request: &sip::Request,
        status: u16,
        reason: &str,
        extra: Vec<sip::Header>,
    ) {
        let mut response = sip::Response::to_request(request, status, reason);
        for header in extra {
            response.headers.append(header);
        }
        self.finish(key, response).await;
    }

    /// Answer with a policy's reply (its headers were checked with the verdict).
    async fn answer_reply(self: &Arc<Self>, key: &ServerKey, request: &sip::Request, reply: Reply) {
        self.answer(key, request, reply.status, &reply.reason, reply.headers).await;
    }

    /// Send the final response of a server transaction, keep it for
    /// retransmissions, and let the observers see it first.
    pub(super) async fn finish(self: &Arc<Self>, key: &ServerKey, response: sip::Response) {
        let bytes = Bytes::from(response.to_bytes());
        let target = {
            let mut table = self.table();
            let Some(tx) = table.servers.get_mut(key) else { return };
            if tx.final_response.is_none() {
                self.outcomes.count(&tx.method, response.status);
            }
            tx.final_response = Some(bytes.clone());
            tx.expires = Instant::now() + tx.linger();
            tx.reply_to.clone()
        };
        self.send_final(key, response, &target, bytes).await;
    }

    /// Forward copies of a request to each hop (RFC 3261 §16.6).
    async fn forward(
        self: &Arc<Self>,
        key: &ServerKey,
        request: sip::Request,
        origin: &Origin,
        loop_hash: &str,
        hops: Vec<Hop>,
    ) {
        let cancelled = self.table().servers.get(key).is_some_and(|tx| tx.final_response.is_some());
        if cancelled {
            return;
        }
        let invite = request.method == Method::INVITE;
        // Each branch is named from the request as it arrived; then every
        // hop gets a copy but the last (usually the only one), which takes
        // the request itself.
        let branches: Vec<String> = (hops.iter().enumerate())
            .map(|(index, hop)| via::branch_for(&request, loop_hash, &hop.target.addr.to_string(), index))
            .collect();
        let mut copies: Vec<sip::Request> = (1..hops.len()).map(|_| request.clone()).collect();
        copies.push(request);
        let mut sends = Vec::new();
        for ((hop, branch), copy) in hops.into_iter().zip(branches).zip(copies) {
            let copy = self.prepare(copy, origin, &hop, &branch);
            let bytes = Bytes::from(copy.to_bytes());
            sends.push((branch.clone(), hop.target.clone(), bytes.clone()));
            let mut table = self.table();
            table.branches.insert(branch.clone(), key.clone());
            if let Some(tx) = table.servers.get_mut(key) {
                tx.branches.push(Branch::new(branch, hop.target, copy, bytes));
            }
        }
        for (branch, target, bytes) in sends {
            if self.send(&target, bytes).await {
                let timer = BranchTimer::new(key.clone(), branch, target.transport == Transport::Udp, invite);
                self.arm(timer);
            } else if let Some(failed) = self.unreachable(key, &branch) {
                self.branch_response(key, &branch, failed).await;
            }
        }
    }

    /// The 503 of a branch whose next hop cannot be reached, as if it came
    /// from there (RFC 3261 §16.7 step 6 then turns it into a 500).
    fn unreachable(&self, key: &ServerKey, branch: &str) -> Option<sip::Response> {
        let table = self.table();
        let sent = table.servers.get(key)?.branches.iter().find(|b| b.id == branch)?.request()?;
        let mut failed = sip::Response::to_request(&sent, 503, "Service Unavailable");
        via::pop_top(&mut failed.headers);
        Some(failed)
    }

    /// The copy of a request for one hop: new Request-URI, Path routes,
    /// Max-Forwards, Record-Route and our Via with `branch` (computed from
    /// the request as it arrived, see [`via::branch_for`]).
    fn prepare(&self, mut copy: sip::Request, origin: &Origin, hop: &Hop, branch: &str) -> sip::Request {
        if let Some(uri) = &hop.uri {
            copy.uri = uri.clone();
        }
        // Every field added here is made of checked parts: routes read from
        // messages or the configuration, a number, the advertised host
        // (checked when the configuration loads) and a branch of our own.
        for route in hop.routes.iter().rev() {
            copy.headers.prepend(sip::Header::from_checked_parts("Route", route.clone()));
        }
        let max_forwards = copy.max_forwards().map_or(DEFAULT_MAX_FORWARDS, |m| m.saturating_sub(1));
        copy.headers.replace(sip::Header::from_checked_parts("Max-Forwards", max_forwards.to_string()));
        let initial = copy.to_tag().is_none();
        let dialog_creating = [Method::INVITE, Method::SUBSCRIBE, Method::REFER].contains(&copy.method);
        if self.options.record_route && initial && dialog_creating {
            // RFC 5658: when the two sides use different transports, record
            // both so each side routes back over its own.
            let outbound = self.local.record_route(hop.target.transport);
            if origin.transport != hop.target.transport {
                let inbound = self.local.record_route(origin.transport);
                copy.headers.prepend(sip::Header::from_checked_parts("Record-Route", inbound));
            }
            copy.headers.prepend(sip::Header::from_checked_parts("Record-Route", outbound));
        }
        let via = self.local.via(hop.target.transport, branch);
        copy.headers.prepend(sip::Header::from_checked_parts("Via", via));
        copy
    }

    /// ACK: absorbed when it acknowledges a non-2xx final response we sent
    /// (it belongs to that INVITE transaction, RFC 3261 §17.2.1); otherwise
    /// (an ACK for a 2xx is a transaction of its own) forwarded statelessly.
    async fn on_ack(self: &Arc<Self>, request: sip::Request, origin: Origin, key: ServerKey) {
        let absorbed = self
            .table()
            .servers
            .get(&key)
            .is_some_and(|tx| tx.final_response.as_ref().is_some_and(|r| !r.starts_with(b"SIP/2.0 2")));
        if !absorbed {
            self.forward_stateless(request, &origin).await;
        }
    }

    /// CANCEL (RFC 3261 §16.10): answered here, and passed on to the branches
    /// of the INVITE it cancels; without a matching INVITE, forwarded
    /// statelessly.
    async fn on_cancel(self: &Arc<Self>, request: sip::Request, origin: Origin, reply_to: Target) {
        let Some(invite_key) = ServerKey::invite_of_cancel(&request) else { return };
        let cancels = {
            let mut table = self.table();
            match table.servers.get_mut(&invite_key) {
                None => None,
                Some(tx) => {
                    let mut cancels = Vec::new();
                    if tx.final_response.is_none() {
                        for branch in &mut tx.branches {
                            match branch.state {
                                BranchState::Proceeding => {
                                    if let Some(invite) = &branch.invite {
                                        cancels.push((branch.target.clone(), cancel_for(invite)));
                                    }
                                }
                                BranchState::Trying => branch.cancel_pending = true,
                                BranchState::Final(_) => {}
                            }
                        }
                    }
                    Some((cancels, tx.branches.is_empty() && tx.final_response.is_none()))
                }
            }
        };
        let Some((cancels, undecided)) = cancels else {
            return self.forward_stateless(request, &origin).await;
        };
        let ok = sip::Response::to_request(&request, 200, "OK");
        self.send(&reply_to, Bytes::from(ok.to_bytes())).await;
        for (target, cancel) in cancels {
            self.send(&target, Bytes::from(cancel.to_bytes())).await;
        }
        if undecided {
            // Cancelled while the chain was still deciding: nothing went out,
            // so the INVITE ends here (RFC 3261 §9.2).
            let invite =
                self.table().servers.get(&invite_key).and_then(|tx| Some(tx.decided.as_ref()?.request.clone()));
            if let Some(invite) = invite {
                let terminated = sip::Response::to_request(&invite, 487, "Request Terminated");
                self.finish(&invite_key, terminated).await;
            }
        }
    }

    /// Forward without a transaction (ACK for 2xx, unmatched CANCEL): the
    /// policy chain already decided the transaction these belong to.
    async fn forward_stateless(self: &Arc<Self>, mut request: sip::Request, origin: &Origin) {
        if request.max_forwards() == Some(0) {
            return;
        }
        let loop_hash = via::loop_hash(&request);
        let decision = route::route(&self.local, self.registrar.as_deref(), self.upstream.as_ref(), &mut request).await;
        if let Decision::Forward(hops) = decision
            && let Some(hop) = hops.into_iter().next()
        {
            let branch = via::branch_for(&request, &loop_hash, &hop.target.addr.to_string(), 0);
            let copy = self.prepare(request, origin, &hop, &branch);
            self.send(&hop.target, Bytes::from(copy.to_bytes())).await;
        }
    }
}

/// The CANCEL for a forwarded INVITE (RFC 3261 §9.1): same Request-URI,
/// Call-ID, From, To, CSeq number and top Via (so it matches downstream),
/// and the same Route set.
pub(super) fn cancel_for(invite: &sip::Request) -> sip::Request {
    hop_by_hop(invite, Method::CANCEL, invite.headers.get("To"))
}

/// The ACK for a non-2xx final response to a forwarded INVITE (RFC 3261
/// §17.1.1.3): To from the response (it carries the tag).
pub(super) fn ack_for(invite: &sip::Request, response: &sip::Response) -> sip::Request {
    hop_by_hop(invite, Method::ACK, response.headers.get("To"))
}

fn hop_by_hop(invite: &sip::Request, method: Method, to: Option<&str>) -> sip::Request {
    let mut headers = sip::Headers::new();
    let top_via = invite.headers.get("Via").and_then(|v| sip::split_list(v).ok()?.first().map(|s| s.to_string()));
    let cseq = invite.cseq().map(|(n, _)| format!("{n} {method}"));
    let fields = [
        ("Via", top_via),
        ("Max-Forwards", Some(DEFAULT_MAX_FORWARDS.to_string())),
        ("From", invite.headers.get("From").map(str::to_string)),
        ("To", to.map(str::to_string)),
        ("Call-ID", invite.call_id().map(str::to_string)),
        ("CSeq", cseq),
    ];
    // Copied from the INVITE as the lexer read it, or numbers and a method.
    for (name, value) in fields {
        if let Some(value) = value {
            headers.append(sip::Header::from_checked_parts(name, value));
        }
    }
    for route in invite.headers.get_all("Route") {
        headers.append(sip::Header::from_checked_parts("Route", route.to_string()));
    }
    sip::Request { method, uri: invite.uri.clone(), headers, body: Vec::new() }
}
