//! One loaded plugin: its pre-instantiated component, a pool of warm
//! instances, and the accounting of every call.
//!
//! Why a pool: instantiating a component costs 13–18 µs here, several times
//! a whole call, so a fresh instance per request would dominate the cost of
//! the chain. Instances are therefore reused, one call at a time each. An
//! instance whose call failed in any way (trap, deadline, memory cap) is
//! dropped, never reused: a failure cannot leak into another request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Component, Resource};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings;
use super::budget::{Budget, CallUse, Refusals};
use super::engine::{Engine, LoadError};
use super::latency::{Latency, LatencySnapshot};
use super::manifest::Manifest;
use super::signature::Signer;
use super::verdict::{MalformedVerdict, Refusal, Verdict};
use super::view::{MemoryCapExceeded, PluginState, RequestView, ResponseView};

/// Most warm instances kept per plugin; more are created under load and
/// dropped when the pool is full.
const MAX_IDLE: usize = 32;

/// A plugin ready to decide requests.
pub struct Plugin {
    name: Arc<str>,
    manifest: Manifest,
    sha256: String,
    signer: Option<Signer>,
    config: String,
    loaded_at: SystemTime,
    engine: Engine,
    pre: bindings::PluginPre<PluginState>,
    idle: Mutex<Vec<Instance>>,
    stats: Stats,
    /// The capability bounds of `[limits]`, shared by every instance.
    budget: Arc<Budget>,
    /// See [`Plugin::may_block`]; fixed at start: a reload swaps a store's
    /// contents, never its kind.
    may_block: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("sha256", &self.sha256).finish_non_exhaustive()
    }
}

struct Instance {
    store: Store<PluginState>,
    bindings: bindings::Plugin,
}

/// How a call failed. Every failure drops the instance it happened in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The call ran past the manifest's `deadline-ms` (the number, in
    /// milliseconds) and was interrupted.
    #[error("deadline of {0} ms exceeded")]
    Deadline(u64),
    /// The instance grew its memory past the manifest's `memory-mib`.
    #[error(transparent)]
    Memory(#[from] MemoryCapExceeded),
    /// A WebAssembly trap (`code`, when wasmtime names one) or an error a
    /// host call raised; `message` is its first line.
    #[error("trapped: {message}")]
    Trap {
        /// The trap code; `None` for a host call's error and for traps
        /// wasmtime does not name.
        code: Option<Trap>,
        /// The first line of the error; wasmtime's guest backtrace is left
        /// out.
        message: String,
    },
    /// The plugin returned a verdict the host refuses (too large, not valid
    /// SIP, or an edit of a header the proxy owns); none of it is applied.
    #[error("malformed verdict: {0}")]
    Malformed(#[from] MalformedVerdict),
    /// A new instance's `init` refused the configuration it accepted at
    /// load: the plugin is not deterministic.
    #[error("could not start an instance: {0}")]
    Start(String),
    /// The plugin said it could not decide.
    #[error("could not decide: {0}")]
    Declined(String),
}

impl Failure {
    /// A short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Deadline(_) => "deadline",
            Failure::Memory(_) => "memory",
            Failure::Trap { .. } => "trap",
            Failure::Malformed(_) => "malformed-verdict",
            Failure::Start(_) => "start",
            Failure::Declined(_) => "declined",
        }
    }
}

/// Counters of one plugin, read by the admin API and tests.
#[derive(Debug, Default)]
struct Stats {
    calls: AtomicU64,
    continues: AtomicU64,
    responds: AtomicU64,
    observed: AtomicU64,
    traps: AtomicU64,
    deadlines: AtomicU64,
    memory: AtomicU64,
    malformed: AtomicU64,
    starts_failed: AtomicU64,
    declined: AtomicU64,
    /// Durations of `decide` calls.
    decide_latency: Latency,
    /// Durations of `observe` calls.
    observe_latency: Latency,
    last_error: Mutex<Option<String>>,
}

/// A snapshot of a plugin's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PluginStats {
    /// Requests the plugin was asked to decide, whatever came of it.
    pub calls: u64,
    /// Decisions that let the request through.
    pub continues: u64,
    /// Decisions that answered the request.
    pub responds: u64,
    /// Responses the plugin was shown.
    pub observed: u64,
    /// Calls that trapped or whose host call raised an error
    /// ([`Failure::Trap`]).
    pub traps: u64,
    /// Calls stopped at their deadline ([`Failure::Deadline`]).
    pub deadlines: u64,
    /// Calls stopped at the memory cap ([`Failure::Memory`]).
    pub memory: u64,
    /// Verdicts refused as malformed ([`Failure::Malformed`]).
    pub malformed: u64,
    /// New instances whose `init` refused the configuration
    /// ([`Failure::Start`]).
    pub starts_failed: u64,
    /// Calls where the plugin said it could not decide.
    pub declined: u64,
    /// Total time spent in calls, in nanoseconds.
    pub nanos: u64,
    /// The most recent failure of any kind, in words; `None` if the plugin
    /// has never failed since it was loaded.
    pub last_error: Option<String>,
    /// Capability calls refused at the bounds of `[limits]`.
    pub refused: Refusals,
}

impl Plugin {
    /// Pre-instantiate a compiled component and run `init` once, so that a
    /// configuration the plugin refuses is reported at load, not on the
    /// first request.
    pub(crate) fn start(
        engine: Engine,
        name: &str,
        component: Component,
        sha256: String,
        signer: Option<Signer>,
        manifest: Manifest,
    ) -> Result<Plugin, LoadError> {
        let instance_pre =
            engine.shared.linker.instantiate_pre(&component).map_err(|e| LoadError::Contract(e.into()))?;
        let pre = bindings::PluginPre::new(instance_pre).map_err(|e| LoadError::Contract(e.into()))?;
        let capabilities = engine.capabilities();
        let may_block = manifest.capabilities.iter().any(|&c| capabilities.may_block(c));
        let name: Arc<str> = Arc::from(name);
        let plugin = Plugin {
            may_block,
            budget: Arc::new(Budget::new(name.clone(), &manifest.limits)),
            name,
            config: manifest.config_json(),
            manifest,
            sha256,
            signer,
            loaded_at: SystemTime::now(),
            engine,
            pre,
            idle: Mutex::new(Vec::new()),
            stats: Stats::default(),
        };
        plugin.engine.follow_deadline(plugin.deadline());
        let first = plugin.instantiate().map_err(|e| match e {
            StartError::Refused(why) => LoadError::ConfigRefused(why),
            StartError::Failed(f) => LoadError::Start(f),
        })?;
        plugin.release(first);
        Ok(plugin)
    }

    /// The plugin's name: its file stem, as in logs, metrics and the admin API.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a call may wait on I/O: the plugin is granted a capability
    /// whose service can block (see [`Capabilities::may_block`]). The
    /// other plugins' calls take microseconds of CPU and nothing else.
    ///
    /// [`Capabilities::may_block`]: crate::capability::Capabilities::may_block
    pub fn may_block(&self) -> bool {
        self.may_block
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The manifest the plugin was loaded with (the default one if it has
    /// no `NAME.toml`).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The SHA-256 of the component, in hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The trusted key that signed the component; `None` when no keys are
    /// trusted (signatures are then not checked).
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// When this version of the plugin was loaded: at start, or by the
    /// reload that brought its component or manifest in.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// A snapshot of the plugin's counters.
    pub fn stats(&self) -> PluginStats {
        let s = &self.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PluginStats {
            calls: n(&s.calls),
            continues: n(&s.continues),
            responds: n(&s.responds),
            observed: n(&s.observed),
            traps: n(&s.traps),
            deadlines: n(&s.deadlines),
            memory: n(&s.memory),
            malformed: n(&s.malformed),
            starts_failed: n(&s.starts_failed),
            declined: n(&s.declined),
            // The histograms keep the sums: one atomic less per call.
            nanos: s.decide_latency.sum_nanos().saturating_add(s.observe_latency.sum_nanos()),
            last_error: lock(&s.last_error).clone(),
            refused: self.budget.refusals(),
        }
    }

    /// Histograms of the durations of `decide` and `observe` calls.
    pub fn latency(&self) -> (LatencySnapshot, LatencySnapshot) {
        (self.stats.decide_latency.snapshot(), self.stats.observe_latency.snapshot())
    }

    /// Decide a request. The view is lent to the plugin for the call and
    /// always handed back, whatever the plugin did.
    pub fn decide(&self, view: RequestView) -> (RequestView, Result<Verdict, Failure>) {
        let clock = &self.engine.shared.clock;
        let started = clock.raw();
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let mut instance = match self.checkout() {
            Ok(instance) => instance,
            Err(failure) => return (view, Err(self.failed(failure))),
        };
        let store = &mut instance.store;
        let handle = match store.data_mut().table.push(view) {
            Ok(handle) => handle,
            // The table of an idle instance is empty; running out of room in
            // it is an accounting bug, so the view is lost with the instance.
            Err(e) => unreachable_table(e),
        };
        let result = instance.bindings.sipwarden_policy_policy().call_decide(&mut *store, borrow(&handle));
        let view = take_back(store, handle);
        let result = match result {
            Ok(raw) => Verdict::check(raw).map_err(|refusal| match refusal {
                Refusal::Malformed(malformed) => Failure::Malformed(malformed),
                Refusal::Declined(reason) => Failure::Declined(reason),
            }),
            Err(e) => Err(self.classify(e)),
        };
        let nanos = clock.delta_as_nanos(started, clock.raw());
        self.stats.decide_latency.record(nanos);
        match result {
            Ok(verdict) => {
                let counter = match verdict {
                    Verdict::Continue { .. } => &self.stats.continues,
                    Verdict::Respond(_) => &self.stats.responds,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.release(instance);
                (view, Ok(verdict))
            }
            Err(failure @ Failure::Declined(_)) => {
                // Declining is an answer, not a fault: the instance is fine.
                self.release(instance);
                (view, Err(self.failed(failure)))
            }
            Err(failure) => (view, Err(self.failed(failure))),
        }
    }

    /// Show the plugin the response to a request it let through.
    pub fn observe(&self, req: RequestView, resp: ResponseView) -> (RequestView, ResponseView, Result<(), Failure>) {
        let clock = &self.engine.shared.clock;
        let started = clock.raw();
        self.stats.observed.fetch_add(1, Ordering::Relaxed);
        let mut instance = match self.checkout() {
            Ok(instance) => instance,
            Err(failure) => return (req, resp, Err(self.failed(failure))),
        };
        let store = &mut instance.store;
        let (req_handle, resp_handle) = match (store.data_mut().table.push(req), store.data_mut().table.push(resp)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => unreachable_table(e),
        };
        let result = instance.bindings.sipwarden_policy_policy().call_observe(
            &mut *store,
            borrow(&req_handle),
            borrow(&resp_handle),
        );
        let req = take_back(store, req_handle);
        let resp = take_back(store, resp_handle);
        let nanos = clock.delta_as_nanos(started, clock.raw());
        self.stats.observe_latency.record(nanos);
        match result {
            Ok(()) => {
                self.release(instance);
                (req, resp, Ok(()))
            }
            Err(e) => {
                let failure = self.classify(e);
                (req, resp, Err(self.failed(failure)))
            }
        }
    }

    /// A warm instance, or a new one; the deadline is armed either way.
    fn checkout(&self) -> Result<Instance, Failure> {
        let idle = lock(&self.idle).pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => self.fresh()?,
        };
        self.arm(&mut instance.store);
        Ok(instance)
    }

    /// Start one fresh instance (instantiation from the pre-instantiated
    /// component, then the plugin's `init`) and keep it in the idle pool if
    /// there is room. This is what a request pays when every instance is
    /// busy or one trapped: the benchmarks time it per language, and a
    /// caller may warm a pool before traffic arrives.
    pub fn start_instance(&self) -> Result<(), Failure> {
        let instance = self.fresh()?;
        self.release(instance);
        Ok(())
    }

    /// A new instance with its `init` run, on the request path.
    fn fresh(&self) -> Result<Instance, Failure> {
        self.instantiate().map_err(|e| match e {
            // The configuration was accepted at load, so a refusal now
            // means the plugin is not deterministic: a failure like any other.
            StartError::Refused(why) => Failure::Start(format!("init refused its configuration: {why}")),
            StartError::Failed(failure) => failure,
        })
    }

    fn release(&self, instance: Instance) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(instance);
        }
    }

    fn instantiate(&self) -> Result<Instance, StartError> {
        match self.instantiate_once() {
            // A module's first instantiation makes the copy-on-write image
            // of its memory, a sealed memfd. Linux refuses the seal with
            // EBUSY while a page of it is briefly pinned (seen once in some
            // 300 loads of a Python plugin, whose image is 12 MiB, on a
            // loaded VM): that is the host's trouble, not the plugin's, and
            // a second try succeeds.
            Err(Attempt::Busy(error)) => {
                tracing::debug!(plugin = %self.name, "memory image busy, instantiating again: {error:#}");
                self.instantiate_once().map_err(|attempt| match attempt {
                    Attempt::Busy(error) => StartError::Failed(self.classify(error)),
                    Attempt::Failed(error) => error,
                })
            }
            Err(Attempt::Failed(error)) => Err(error),
            Ok(instance) => Ok(instance),
        }
    }

    fn instantiate_once(&self) -> Result<Instance, Attempt> {
        let shared = &self.engine.shared;
        let state = PluginState::new(
            self.name.clone(),
            shared.capabilities.clone(),
            self.manifest.limits.memory_mib.bytes(),
            self.budget.clone(),
        );
        let mut store = Store::new(&shared.wasmtime, state);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|store| {
            // An epoch tick reached this call: stop it if its time is up,
            // else look again at the next tick (so at most a tick late).
            Ok(if Instant::now() >= store.data().deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        self.arm(&mut store);
        let bindings = self.pre.instantiate(&mut store).map_err(|e| {
            let busy = e.chain().any(|cause| {
                cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ResourceBusy)
            });
            if busy { Attempt::Busy(e) } else { Attempt::Failed(StartError::Failed(self.classify(e))) }
        })?;
        match bindings.sipwarden_policy_policy().call_init(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Instance { store, bindings }),
            Ok(Err(why)) => Err(Attempt::Failed(StartError::Refused(why))),
            Err(e) => Err(Attempt::Failed(StartError::Failed(self.classify(e)))),
        }
    }

    /// Arm the deadline of the next call: wall-clock time from now, looked
    /// at on the first epoch tick the call sees and every one after.
    fn arm(&self, store: &mut Store<PluginState>) {
        let state = store.data_mut();
        state.deadline = Instant::now() + self.deadline();
        // The per-call capability bounds start again with every call.
        state.call = CallUse::default();
        store.set_epoch_deadline(1);
    }

    fn deadline(&self) -> Duration {
        self.manifest.limits.deadline_ms.duration()
    }

    /// Sort a call's error into the failure kinds the operator sees.
    fn classify(&self, error: wasmtime::Error) -> Failure {
        if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
            return Failure::Memory(cap.clone());
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::Deadline(self.deadline().as_millis() as u64),
            code => Failure::Trap { code: code.copied(), message: first_line(&format!("{error:#}")) },
        }
    }

    /// Count and log a failure, and keep it as the last error.
    fn failed(&self, failure: Failure) -> Failure {
        let counter = match failure {
            Failure::Deadline(_) => &self.stats.deadlines,
            Failure::Memory(_) => &self.stats.memory,
            Failure::Trap { .. } => &self.stats.traps,
            Failure::Malformed(_) => &self.stats.malformed,
            Failure::Start(_) => &self.stats.starts_failed,
            Failure::Declined(_) => &self.stats.declined,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(plugin = %self.name, kind = failure.kind(), "plugin failed: {failure}");
        *lock(&self.stats.last_error) = Some(failure.to_string());
        failure
    }
}

enum StartError {
    Refused(String),
    Failed(Failure),
}

/// One try at an instance: failed for good, or refused by the kernel for
/// a moment (see `Plugin::instantiate`).
enum Attempt {
    Busy(wasmtime::Error),
    Failed(StartError),
}

/// A borrow handle to lend a host-owned view for one call.
fn borrow<T: 'static>(own: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(own.rep())
}

/// Take a lent view back out of the store's table.
fn take_back<T: 'static>(store: &mut Store<PluginState>, handle: Resource<T>) -> T {
    match store.data_mut().table.delete(handle) {
        Ok(view) => view,
        // Guests only ever receive borrows, which cannot remove a host-owned
        // entry, so the view is where it was put.
        Err(e) => unreachable_table(e),
    }
}

fn unreachable_table(e: wasmtime::component::ResourceTableError) -> ! {
    panic!("resource table invariant broken: {e}")
}

fn first_line(s: &str) -> String {
    // wasmtime appends a guest backtrace; the first line says what happened.
    s.lines().next().unwrap_or_default().to_string()
}

/// Lock a mutex, recovering from poisoning: the data guarded here (a pool of
/// instances, a last-error string) stays consistent even if a holder
/// panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
