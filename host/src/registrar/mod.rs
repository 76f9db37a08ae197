//! An embedded registrar and location service (RFC 3261 §10.3), with the two
//! extensions a UA behind NAT or on a mobile network relies on: RFC 5626
//! outbound, which binds a device instance and keeps the connection it
//! registered over, and RFC 3327 Path.
//!
//! It serves OMA IM REG-3 and REG-4. A user may register from several devices
//! and each gets a binding of its own; a device that registers again from a
//! new address, after moving between networks, replaces its binding instead
//! of leaving a dead one behind. A device is recognised by its
//! `+sip.instance`, or by its Contact URI when it sends none.
//!
//! This is pure logic: the proxy hands [`Registrar::register`] a REGISTER its
//! policies let through and sends the response it gets back, asks
//! [`Registrar::lookup`] where to deliver requests, and calls
//! [`Registrar::purge`] now and then. Time is passed in, never read, so no
//! timer runs here and expiry can be tested.

mod options;
mod rejection;
mod request;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sip::{Request, Response};
use crate::transport::Origin;
use rejection::Rejection;
use request::{Action, ContactUpdate, Identity, Registration};
pub use sipwarden_grammar::aor_of;
use sipwarden_grammar::{Uri, canonical_host, target_uri};

/// The `[registrar]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrarConfig {
    /// The domains whose users register here, e.g. `["localhost",
    /// "127.0.0.1"]`; a REGISTER for another domain gets 404. Empty accepts
    /// any domain, which suits a lab, not a deployment.
    pub domains: Vec<String>,
    /// The shortest registration accepted, in seconds; a shorter one gets 423
    /// so that UAs cannot make the registrar work for them every few seconds.
    pub min_expires: u32,
    /// The longest registration granted, in seconds; longer requests are cut
    /// to it, so a device that vanished is forgotten within this time.
    pub max_expires: u32,
    /// The interval granted when a REGISTER names none.
    pub default_expires: u32,
    /// How many devices one address-of-record may have bound at once.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            domains: Vec::new(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: 10,
        }
    }
}

impl RegistrarConfig {
    /// The configuration in the form it is applied: domains as
    /// [`canonical_host`] writes hosts, and intervals made consistent
    /// (with a warning) rather than refused, as nothing here can fail.
    fn normalized(mut self) -> Self {
        self.domains = self.domains.iter().map(|domain| canonical_host(domain)).collect();
        if self.max_expires < self.min_expires {
            tracing::warn!(self.min_expires, self.max_expires, "registrar: max-expires raised to min-expires");
            self.max_expires = self.min_expires;
        }
        let default_expires = self.default_expires.max(self.min_expires).min(self.max_expires);
        if default_expires != self.default_expires {
            tracing::warn!(self.default_expires, default_expires, "registrar: default-expires brought within bounds");
            self.default_expires = default_expires;
        }
        self
    }

    fn serves_host(&self, host: &str) -> bool {
        self.domains.is_empty() || self.domains.iter().any(|domain| domain == host)
    }
}

/// An opaque handle the transport gives for a connection. Stored with a
/// binding so that requests reach the client over the TCP/TLS/WebSocket
/// connection it registered over, the only way through most NATs (RFC 5626
/// outbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowToken(pub u64);

/// One registered contact of an address-of-record.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The canonical address-of-record ([`aor_of`]).
    pub aor: String,
    /// The Contact URI, as the UA sent it: the target of requests to the AOR.
    pub contact: String,
    /// The `+sip.instance` of the device, without its quotes, e.g.
    /// `<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>`.
    pub instance: Option<String>,
    /// The RFC 5626 `reg-id`: which of the device's flows this binding uses.
    /// Set only when the binding was made under outbound.
    pub reg_id: Option<u32>,
    /// The preference among the bindings of the AOR, from 0 to 1.
    pub q: Option<f32>,
    /// When the binding lapses unless the device refreshes it.
    pub expires_at: Instant,
    /// The Call-ID of the REGISTER that made or last refreshed the binding:
    /// with `cseq`, what orders later requests (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// The CSeq number of that REGISTER. Another with the same Call-ID and
    /// a CSeq not above it is out of order: it gets a 500 and changes nothing.
    pub cseq: u32,
    /// The hop the REGISTER came from.
    pub source: Origin,
    /// The connection the REGISTER came over, if the transport has them.
    pub flow: Option<FlowToken>,
    /// The RFC 3327 Path entries, to be used as a preloaded route.
    pub path: Vec<String>,
}

/// A snapshot of the location service's size. Bindings that expired but
/// were not yet purged are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RegistrarStats {
    /// Addresses-of-record with at least one binding.
    pub aors: usize,
    /// Bindings, over all addresses-of-record.
    pub bindings: usize,
}

/// A stored binding and what identifies it, computed once.
#[derive(Clone)]
struct Entry {
    identity: Identity,
    binding: Binding,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.binding.expires_at > now
    }

    /// Whether the binding was written by this request or a later one of the
    /// same registration (Call-ID), so this request must not change it.
    fn supersedes(&self, call_id: &str, cseq: u32) -> bool {
        self.binding.call_id == call_id && cseq <= self.binding.cseq
    }
}

/// The registrar and location service. It is `Send + Sync` and meant to be
/// shared in an `Arc`: look-ups take a read lock, registrations a write lock.
pub struct Registrar {
    config: RegistrarConfig,
    bindings: RwLock<Store>,
}

/// Bindings by canonical AOR, each list most recently refreshed first. An
/// AOR without bindings has no entry.
type Store = HashMap<String, Vec<Entry>>;

impl Registrar {
    /// A registrar without bindings. A configuration whose intervals
    /// contradict each other is corrected, with a warning, not refused.
    pub fn new(config: RegistrarConfig) -> Registrar {
        Registrar { config: config.normalized(), bindings: RwLock::default() }
    }

    /// Whether a Request-URI or To value (URI or name-addr) is in a domain
    /// served here: the proxy routes such a request through
    /// [`Registrar::lookup`] (and such a REGISTER to [`Registrar::register`])
    /// rather than forwarding it.
    pub fn serves(&self, uri: &str) -> bool {
        let uri = target_uri(uri).map(Uri::parse);
        matches!(uri, Some(Ok(Uri::Sip(uri))) if self.config.serves_host(&uri.canonical_host()))
    }

    /// Processes a REGISTER the policy chain let through and returns the
    /// response to send: a 200 that lists the bindings now in force, each
    /// with the seconds it has left, or the error that explains why nothing
    /// changed.
    ///
    /// `origin` and `flow` are stored with the bindings the request makes, so
    /// the proxy can reach the device the way it came. Retransmissions must be
    /// absorbed by the transaction layer: a REGISTER repeated with the same
    /// Call-ID and CSeq is out of order here and gets a 500.
    pub fn register(&self, request: &Request, origin: &Origin, flow: Option<FlowToken>, now: Instant) -> Response {
        let outcome = request::read(request, &self.config).and_then(|registration| {
            let bindings = self.apply(&registration, origin, flow, now)?;
            Ok((registration.aor, registration.outbound, bindings))
        });
        match outcome {
            Ok((aor, outbound, bindings)) => {
                tracing::debug!(aor, bindings = bindings.len(), "REGISTER accepted");
                let mut response = Response::to_request(request, 200, "OK");
                for binding in &bindings {
                    add_header(&mut response, "Contact", contact_value(binding, now));
                }
                // RFC 3327 §5.3: the UA learns which proxies requests to it will cross.
                for path in request.headers.get_all("Path") {
                    add_header(&mut response, "Path", path.to_owned());
                }
                if outbound {
                    add_header(&mut response, "Require", "outbound".to_owned());
                }
                response
            }
            Err(rejection) => {
                tracing::debug!(status = rejection.status(), %rejection, "REGISTER rejected");
                rejection.response(request)
            }
        }
    }

    /// The live bindings of an address-of-record, given as any URI or
    /// name-addr that [`aor_of`] reads (a Request-URI, typically): highest
    /// `q` first, a binding without `q` counting as 1, and among equals the
    /// most recently refreshed first, so the device used last is tried first.
    pub fn lookup(&self, aor: &str, now: Instant) -> Vec<Binding> {
        aor_of(aor).map(|aor| self.current(&aor, now)).unwrap_or_default()
    }

    /// Drops the bindings that expired by `now` and returns how many.
    pub fn purge(&self, now: Instant) -> usize {
        let mut store = self.write();
        let mut purged = 0;
        store.retain(|_, entries| {
            let before = entries.len();
            entries.retain(|entry| entry.is_live(now));
            purged += before - entries.len();
            !entries.is_empty()
        });
        purged
    }

    /// How many AORs and bindings are stored, for monitoring.
    pub fn stats(&self) -> RegistrarStats {
        let store = self.read();
        RegistrarStats { aors: store.len(), bindings: store.values().map(Vec::len).sum() }
    }

    /// A lock poisoned by a panic elsewhere is still consistent: a change is
    /// computed aside and committed by one insertion or removal.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.bindings.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.bindings.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self, aor: &str, now: Instant) -> Vec<Binding> {
        self.read().get(aor).map(|entries| in_preference_order(entries, now)).unwrap_or_default()
    }

    /// Carries out a checked REGISTER and returns the bindings now in force.
    fn apply(
        &self,
        registration: &Registration,
        origin: &Origin,
        flow: Option<FlowToken>,
        now: Instant,
    ) -> Result<Vec<Binding>, Rejection> {
        match &registration.action {
            Action::Query => Ok(self.current(&registration.aor, now)),
            Action::RemoveAll => self.remove_all(registration, now).map(|()| Vec::new()),
            Action::Update(updates) => {
                // Built before the lock is taken; `None` removes a binding.
                let changes = updates
                    .iter()
                    .map(|update| Ok((update.identity.clone(), binding(registration, update, origin, flow, now)?)))
                    .collect::<Result<Vec<_>, Rejection>>()?;
                self.update(registration, changes, now)
            }
        }
    }

    /// `Contact: *`. RFC 3261 §10.3 step 6: it too must be newer than each
    /// binding it removes.
    fn remove_all(&self, registration: &Registration, now: Instant) -> Result<(), Rejection> {
        let Registration { aor, call_id, cseq, .. } = registration;
        let mut store = self.write();
        let mut live = store.get(aor).into_iter().flatten().filter(|entry| entry.is_live(now));
        if let Some(stale) = live.find(|entry| entry.supersedes(call_id, *cseq)) {
            return Err(Rejection::OutOfOrder { received: *cseq, stored: stale.binding.cseq });
        }
        store.remove(aor);
        Ok(())
    }

    /// RFC 3261 §10.3 step 7: adds, refreshes and removes bindings, all or
    /// none. The new list is built aside from the live bindings and replaces
    /// the stored one only once every check has passed.
    fn update(
        &self,
        registration: &Registration,
        changes: Vec<(Identity, Option<Binding>)>,
        now: Instant,
    ) -> Result<Vec<Binding>, Rejection> {
        let Registration { aor, call_id, cseq, .. } = registration;
        let mut store = self.write();
        let mut kept: Vec<Entry> =
            store.get(aor).into_iter().flatten().filter(|entry| entry.is_live(now)).cloned().collect();
        let live_before = kept.len();
        let mut written: Vec<Entry> = Vec::new();
        for (identity, binding) in changes {
            // A contact repeated in one request: the last occurrence counts.
            written.retain(|entry| !entry.identity.same_binding(&identity));
            let mut replaced = kept.iter().filter(|entry| entry.identity.same_binding(&identity));
            if let Some(stale) = replaced.find(|entry| entry.supersedes(call_id, *cseq)) {
                return Err(Rejection::OutOfOrder { received: *cseq, stored: stale.binding.cseq });
            }
            kept.retain(|entry| !entry.identity.same_binding(&identity));
            if let Some(binding) = binding {
                written.push(Entry { identity, binding });
            }
        }
        let count = written.len() + kept.len();
        // Refreshes stay possible when a lowered limit is already exceeded.
        if count > self.config.max_bindings_per_aor && count > live_before {
            return Err(Rejection::TooManyBindings);
        }
        written.append(&mut kept);
        let current = in_preference_order(&written, now);
        if written.is_empty() {
            store.remove(aor);
        } else {
            store.insert(aor.clone(), written);
        }
        Ok(current)
    }
}

/// The binding a Contact asks for, or `None` if it asks for removal.
fn binding(
    registration: &Registration,
    update: &ContactUpdate,
    origin: &Origin,
    flow: Option<FlowToken>,
    now: Instant,
) -> Result<Option<Binding>, Rejection> {
    if update.expires == 0 {
        return Ok(None);
    }
    let expires_at = now.checked_add(Duration::from_secs(update.expires.into())).ok_or(Rejection::ExpiryOutOfRange)?;
    Ok(Some(Binding {
        aor: registration.aor.clone(),
        contact: update.uri.clone(),
        instance: update.identity.instance.clone(),
        reg_id: update.identity.reg_id,
        q: update.q,
        expires_at,
        call_id: registration.call_id.clone(),
        cseq: registration.cseq,
        source: origin.clone(),
        flow,
        path: registration.path.clone(),
    }))
}

/// The live bindings of `entries` (most recently refreshed first), sorted by
/// descending q; the sort is stable, so recency orders equal q values.
fn in_preference_order(entries: &[Entry], now: Instant) -> Vec<Binding> {
    let mut bindings: Vec<Binding> =
        entries.iter().filter(|entry| entry.is_live(now)).map(|entry| entry.binding.clone()).collect();
    bindings.sort_by(|a, b| b.q.unwrap_or(1.0).total_cmp(&a.q.unwrap_or(1.0)));
    bindings
}

/// A binding as a 200 lists it: the seconds it has left, rounded up so that
/// a live binding never shows 0, and the parameters that identify it.
fn contact_value(binding: &Binding, now: Instant) -> String {
    let left = binding.expires_at.saturating_duration_since(now);
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let mut value = format!("<{}>;expires={seconds}", binding.contact);
    if let Some(q) = binding.q {
        value.push_str(&format!(";q={q}"));
    }
    if let Some(instance) = &binding.instance {
        value.push_str(&format!(";+sip.instance=\"{instance}\""));
    }
    if let Some(reg_id) = binding.reg_id {
        value.push_str(&format!(";reg-id={reg_id}"));
    }
    value
}

/// Adds a header to a response built here. The values are numbers or text
/// the lexer already cut into single lines, so `push` has no reason to refuse
/// them; should it ever, the header is left out and the fact logged rather
/// than the whole response lost.
fn add_header(response: &mut Response, name: &str, value: String) {
    if let Err(error) = response.headers.push(name, value) {
        tracing::warn!(%error, "registrar: header left out of a response");
    }
}
