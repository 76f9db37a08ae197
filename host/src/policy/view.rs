//! The host side of the contract: the request and response views a plugin
//! queries, and the capabilities it calls.
//!
//! Every function here runs on behalf of a sandboxed plugin, so none of them
//! trusts its arguments: a stale handle becomes a trap of that call, and a
//! capability failure becomes an error value the plugin must handle.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{audit, credentials, directory, log, types};
use super::budget::{Budget, CallUse};
use crate::capability::{Capabilities, Verification};
use crate::sip;
use crate::transport::{Origin, Transport};

/// The request a plugin is deciding, lent to its store for one call.
pub struct RequestView {
    /// The request as the plugin sees it: with the edits of the plugins
    /// before it in the chain applied.
    pub request: sip::Request,
    /// The hop the request came from, which the plugin may trust where it
    /// may not trust the request's own headers.
    pub origin: Origin,
    /// Whether the `To` has a tag, found once per chain run: no plugin can
    /// edit `To`, and several plugins ask.
    in_dialog: OnceLock<bool>,
}

impl RequestView {
    /// A view of a request that arrived from `origin`, to lend to
    /// [`super::Plugin::decide`] or [`super::Plugin::observe`].
    pub fn new(request: sip::Request, origin: Origin) -> Self {
        RequestView { request, origin, in_dialog: OnceLock::new() }
    }
}

/// The response a plugin is observing, lent to its store for one call.
pub struct ResponseView {
    /// The response to the request; the plugin reads it but cannot change it.
    pub response: sip::Response,
}

/// The state of one plugin instance's store.
pub(crate) struct PluginState {
    pub(crate) plugin: Arc<str>,
    pub(crate) capabilities: Arc<Capabilities>,
    pub(crate) table: ResourceTable,
    pub(crate) limits: MemoryCap,
    /// What the plugin may do through its capabilities, shared by its
    /// instances, and what the running call has used of it.
    pub(crate) budget: Arc<Budget>,
    pub(crate) call: CallUse,
    /// When the running call (or the next one) must have returned.
    pub(crate) deadline: Instant,
    wasi: WasiCtx,
}

impl PluginState {
    pub(crate) fn new(
        plugin: Arc<str>,
        capabilities: Arc<Capabilities>,
        memory_bytes: usize,
        budget: Arc<Budget>,
    ) -> Self {
        PluginState {
            plugin,
            capabilities,
            table: ResourceTable::new(),
            limits: MemoryCap::new(memory_bytes),
            budget,
            call: CallUse::default(),
            deadline: Instant::now(),
            wasi: super::sandbox::deny_all_wasi(),
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The error that ends a call whose plugin grew its memory past its cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("memory cap of {cap} bytes exceeded (asked for {desired})")]
pub struct MemoryCapExceeded {
    /// The manifest's cap, in bytes.
    pub cap: usize,
    /// The size the plugin asked its memory to grow to.
    pub desired: usize,
}

/// Per-instance memory cap.
///
/// A growth past the cap traps the call (instead of making `memory.grow`
/// return -1) so that the host can tell memory exhaustion from any other
/// failure and count it as such.
pub(crate) struct MemoryCap {
    cap: usize,
    rest: StoreLimits,
}

impl MemoryCap {
    fn new(cap: usize) -> Self {
        // Tables and instance counts keep wasmtime's defaults, which are far
        // above what a policy component uses.
        MemoryCap { cap, rest: StoreLimitsBuilder::new().build() }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded { cap: self.cap, desired }));
        }
        Ok(maximum.is_none_or(|max| desired <= max))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.rest.table_growing(current, desired, maximum)
    }
}

fn request<'a>(table: &'a ResourceTable, handle: &Resource<RequestView>) -> wasmtime::Result<&'a RequestView> {
    Ok(table.get(handle)?)
}

fn response<'a>(table: &'a ResourceTable, handle: &Resource<ResponseView>) -> wasmtime::Result<&'a ResponseView> {
    Ok(table.get(handle)?)
}

fn to_wit_transport(transport: Transport) -> types::Transport {
    match transport {
        Transport::Udp => types::Transport::Udp,
        Transport::Tcp => types::Transport::Tcp,
        Transport::Tls => types::Transport::Tls,
        Transport::Ws => types::Transport::Ws,
        Transport::Wss => types::Transport::Wss,
    }
}

fn to_wit_headers(headers: &sip::Headers) -> Vec<types::Header> {
    headers.iter().map(|h| types::Header { name: h.name().to_string(), value: h.value().to_string() }).collect()
}

impl types::Host for PluginState {}

impl types::HostRequest for PluginState {
    fn method(&mut self, req: Resource<RequestView>) -> wasmtime::Result<String> {
        Ok(request(&self.table, &req)?.request.method.as_str().to_string())
    }

    fn uri(&mut self, req: Resource<RequestView>) -> wasmtime::Result<String> {
        Ok(request(&self.table, &req)?.request.uri.clone())
    }

    fn header(&mut self, req: Resource<RequestView>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(request(&self.table, &req)?.request.headers.get(&name).map(str::to_string))
    }

    fn header_values(&mut self, req: Resource<RequestView>, name: String) -> wasmtime::Result<Vec<String>> {
        Ok(request(&self.table, &req)?.request.headers.get_all(&name).map(str::to_string).collect())
    }

    fn headers(&mut self, req: Resource<RequestView>) -> wasmtime::Result<Vec<types::Header>> {
        Ok(to_wit_headers(&request(&self.table, &req)?.request.headers))
    }

    fn body(&mut self, req: Resource<RequestView>) -> wasmtime::Result<Vec<u8>> {
        Ok(request(&self.table, &req)?.request.body.clone())
    }

    fn origin(&mut self, req: Resource<RequestView>) -> wasmtime::Result<types::Origin> {
        let origin = &request(&self.table, &req)?.origin;
        Ok(types::Origin {
            transport: to_wit_transport(origin.transport),
            address: origin.source.ip().to_string(),
            port: origin.source.port(),
            tls_peer: origin.tls_peer.as_ref().map(|peer| types::TlsPeer {
                subject: peer.subject.clone(),
                dns_names: peer.dns_names.clone(),
                uris: peer.uris.clone(),
            }),
        })
    }

    fn source(&mut self, req: Resource<RequestView>) -> wasmtime::Result<types::Source> {
        let origin = &request(&self.table, &req)?.origin;
        let address = match origin.source.ip().to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                types::IpAddress::Ipv4((a, b, c, d))
            }
            IpAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h] = v6.segments();
                types::IpAddress::Ipv6((a, b, c, d, e, f, g, h))
            }
        };
        Ok(types::Source { transport: to_wit_transport(origin.transport), address, port: origin.source.port() })
    }

    fn peer_named(&mut self, req: Resource<RequestView>, names: Vec<String>) -> wasmtime::Result<bool> {
        let origin = &request(&self.table, &req)?.origin;
        // The transport layer records a peer only after verifying its
        // certificate chain; the transport check keeps a certificate from
        // ever naming a hop that did not use it.
        let Some(peer) = origin.tls_peer.as_ref().filter(|_| origin.transport.is_secure()) else {
            return Ok(false);
        };
        Ok(peer.dns_names.iter().chain(&peer.uris).any(|held| names.iter().any(|n| n.eq_ignore_ascii_case(held))))
    }

    fn in_dialog(&mut self, req: Resource<RequestView>) -> wasmtime::Result<bool> {
        let view = request(&self.table, &req)?;
        Ok(*view.in_dialog.get_or_init(|| view.request.to_tag().is_some()))
    }

    fn drop(&mut self, req: Resource<RequestView>) -> wasmtime::Result<()> {
        // The host owns every view and takes it back after the call; a guest
        // only ever holds a borrow, so there is nothing to free here.
        let _ = req;
        Ok(())
    }
}

impl types::HostResponse for PluginState {
    fn status(&mut self, resp: Resource<ResponseView>) -> wasmtime::Result<u16> {
        Ok(response(&self.table, &resp)?.response.status)
    }

    fn reason(&mut self, resp: Resource<ResponseView>) -> wasmtime::Result<String> {
        Ok(response(&self.table, &resp)?.response.reason.clone())
    }

    fn header(&mut self, resp: Resource<ResponseView>, name: String) -> wasmtime::Result<Option<String>> {
        Ok(response(&self.table, &resp)?.response.headers.get(&name).map(str::to_string))
    }

    fn header_values(&mut self, resp: Resource<ResponseView>, name: String) -> wasmtime::Result<Vec<String>> {
        Ok(response(&self.table, &resp)?.response.headers.get_all(&name).map(str::to_string).collect())
    }

    fn headers(&mut self, resp: Resource<ResponseView>) -> wasmtime::Result<Vec<types::Header>> {
        Ok(to_wit_headers(&response(&self.table, &resp)?.response.headers))
    }

    fn drop(&mut self, resp: Resource<ResponseView>) -> wasmtime::Result<()> {
        let _ = resp;
        Ok(())
    }
}

impl log::Host for PluginState {
    fn enabled(&mut self, level: log::Level) -> wasmtime::Result<bool> {
        // The same target and level `log` writes at, so the answer is the
        // operator's filter.
        Ok(match level {
            log::Level::Trace => tracing::enabled!(target: "sipwarden::plugin", tracing::Level::TRACE),
            log::Level::Debug => tracing::enabled!(target: "sipwarden::plugin", tracing::Level::DEBUG),
            log::Level::Info => tracing::enabled!(target: "sipwarden::plugin", tracing::Level::INFO),
            log::Level::Warn => tracing::enabled!(target: "sipwarden::plugin", tracing::Level::WARN),
            log::Level::Error => tracing::enabled!(target: "sipwarden::plugin", tracing::Level::ERROR),
        })
    }

    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        // A line the operator's filter hides costs nothing of the budget;
        // one it shows is cut to log-line-bytes, and dropped (and counted)
        // over log-lines-per-second.
        if !log::Host::enabled(self, level)? {
            return Ok(());
        }
        let Some(message) = self.budget.log_line(&message) else { return Ok(()) };
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(target: "sipwarden::plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "sipwarden::plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "sipwarden::plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "sipwarden::plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "sipwarden::plugin", plugin, "{message}"),
        }
        Ok(())
    }
}

impl audit::Host for PluginState {
    fn append(&mut self, fields: Vec<audit::Field>) -> wasmtime::Result<Result<(), String>> {
        let mut record = serde_json::Map::new();
        for field in fields {
            let value = match field.value {
                audit::Value::Text(s) => serde_json::Value::String(s),
                audit::Value::Integer(i) => serde_json::Value::from(i),
                audit::Value::Boolean(b) => serde_json::Value::Bool(b),
                audit::Value::Null => serde_json::Value::Null,
            };
            record.insert(field.key, value);
        }
        // Its size as the trail will write it. The keys and texts alone are
        // a lower bound (JSON only adds quotes and escapes), so an oversized
        // record is refused without serializing megabytes.
        let raw: usize = record.iter().map(|(key, value)| key.len() + value.as_str().map_or(0, str::len)).sum();
        let bytes = if raw > self.budget.audit_record_bytes() {
            raw
        } else {
            serde_json::to_vec(&record).map_or(usize::MAX, |json| json.len())
        };
        if let Err(refused) = self.budget.audit(&mut self.call, bytes) {
            return Ok(Err(refused));
        }
        Ok(self.capabilities.audit().append(&self.plugin, record).map_err(|e| e.to_string()))
    }
}

impl directory::Host for PluginState {
    fn lookup(&mut self, number: String) -> wasmtime::Result<Result<Vec<String>, directory::LookupError>> {
        use crate::capability::DirectoryError;
        if let Err(refused) = self.budget.lookup(&mut self.call) {
            return Ok(Err(directory::LookupError::Unavailable(refused)));
        }
        Ok(self.capabilities.directory().lookup(&number).map_err(|e| match e {
            DirectoryError::InvalidNumber(e) => directory::LookupError::InvalidNumber(e.to_string()),
            DirectoryError::Unavailable(why) => directory::LookupError::Unavailable(why),
        }))
    }
}

impl credentials::Host for PluginState {
    fn verify(
        &mut self,
        req: Resource<RequestView>,
        realm: String,
        proxy: bool,
    ) -> wasmtime::Result<credentials::Verification> {
        if let Err(refused) = self.budget.verification(&mut self.call) {
            return Ok(credentials::Verification::Rejected(refused));
        }
        let view = request(&self.table, &req)?;
        let header = if proxy { "Proxy-Authorization" } else { "Authorization" };
        // A request may carry credentials for several realms (RFC 3261
        // §22.3); only the ones for this realm are ours to check.
        let mut outcome = credentials::Verification::Missing;
        for value in view.request.headers.get_all(header) {
            match self.capabilities.verify_digest(value, view.request.method.as_str(), &view.request.uri, &realm) {
                Verification::Verified { username, realm } => {
                    return Ok(credentials::Verification::Verified(credentials::Identity { username, realm }));
                }
                Verification::Stale => outcome = credentials::Verification::Stale,
                Verification::Rejected(crate::capability::RejectReason::WrongRealm) => {}
                Verification::Rejected(why) => outcome = credentials::Verification::Rejected(why.to_string()),
            }
        }
        Ok(outcome)
    }

    fn challenge(&mut self, realm: String, stale: bool) -> wasmtime::Result<Vec<String>> {
        // The contract gives a challenge no error: past the bound the
        // plugin gets none, and a policy that must challenge fails closed.
        if self.budget.verification(&mut self.call).is_err() {
            return Ok(Vec::new());
        }
        Ok(self.capabilities.challenge(&realm, stale))
    }
}
