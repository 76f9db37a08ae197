//! The wasmtime engine every plugin runs in, and loading a plugin into it.
//!
//! One engine compiles every component once and links it against the
//! contract; each plugin is then pre-instantiated so that serving a request
//! costs a call, not an instantiation (see `plugin.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::manifest::{Capability, MAX_MEMORY_MIB, Manifest, ManifestError};
use super::plugin::{Failure, Plugin};
use super::signature::{SignatureError, TrustedKeys, signature_path};
use super::view::PluginState;
use crate::capability::Capabilities;

/// The interface every policy must export.
pub const POLICY_EXPORT: &str = "sipwarden:policy/policy@0.1.1";
/// The world policies target.
pub const WORLD: &str = "sipwarden:policy/plugin@0.1.1";

/// The epoch's period, the resolution of call deadlines, follows the
/// tightest deadline the engine's plugins ask for: a tenth of it, between
/// these bounds. Every tick wakes a thread even when no call runs (at 1 ms
/// the ticker alone cost 32 ms of CPU a second on the project's VM, idle;
/// at 5 ms 10 ms), and a call runs microseconds, so a coarse tick costs
/// nothing but precision on a runaway: the bundled policies' 500 ms
/// deadlines tick every 50 ms, the default 50 ms deadline every 5 ms.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(50);

/// Pool slots of core instances (and tables) per component instance slot.
/// componentize-py components (the Python SDK's) instantiate about a dozen
/// core modules each; with 4, a pool of 64 component slots ran out of core
/// instances at the 21st Python instance.
const CORE_PER_COMPONENT: u32 = 16;
/// Pool slots of linear memories per component instance slot. Only address
/// space is reserved per slot (the memory cap plus guards), never memory.
const MEMORIES_PER_COMPONENT: u32 = 2;

/// Tuning of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Instance slots of the pooling allocator; `None` allocates on demand.
    /// Pooling makes instantiation about a third cheaper (measured: 13 µs
    /// against 17–18 µs), which matters when a trapped instance is replaced
    /// on the request path.
    pub pool_slots: Option<u32>,
    /// Where compiled components are cached between runs; `None` disables
    /// the cache.
    pub cache_dir: Option<PathBuf>,
    /// The keys a component must be signed by to load (`[plugins]
    /// trusted-keys`); none: signatures are not checked.
    pub trusted_keys: TrustedKeys,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { pool_slots: Some(256), cache_dir: default_cache_dir(), trusted_keys: TrustedKeys::none() }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("sipwarden").join("components"))
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A plugin directory or component file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The plugin's `NAME.toml` could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The file stem is not a plugin name. The name appears in logs, the
    /// admin API and metrics labels, so it is kept to a safe alphabet.
    #[error("`{0}` is not a usable plugin name (letters, digits, `-` and `_` only)")]
    BadName(String),
    /// Trusted keys are configured and the component is not signed by one
    /// of them: it is never compiled.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The file is not WebAssembly at all.
    #[error("not WebAssembly: the file does not start with the `\\0asm` magic number")]
    NotWasm,
    /// The file is a core module; only components can be linked against the
    /// contract.
    #[error(
        "a core WebAssembly module, not a component: build the plugin for the wasm32-wasip2 target \
         (or wrap the module with `wasm-tools component new`)"
    )]
    CoreModule,
    /// The manifest's `sha256` pin does not match the file: it is not the
    /// component the operator reviewed.
    #[error("SHA-256 mismatch: the manifest pins {pinned} but the component is {actual}")]
    DigestMismatch {
        /// The digest in the manifest, lower-case hex.
        pinned: String,
        /// The digest of the file, lower-case hex.
        actual: String,
    },
    /// wasmtime could not compile the component.
    #[error("invalid component: {0}")]
    Compile(#[source] WasmError),
    /// The component does not export [`POLICY_EXPORT`].
    #[error("the component does not export `{POLICY_EXPORT}`: it was not built for the sipwarden policy world")]
    MissingExport,
    /// The component imports a capability interface its manifest does not
    /// grant: a plugin gets only what the operator wrote down.
    #[error("the component imports `{import}`, but its manifest does not grant the `{capability}` capability")]
    UngrantedImport {
        /// The import, as the component names it.
        import: String,
        /// The capability that would grant it.
        capability: Capability,
    },
    /// The component imports an interface that is neither WASI nor the
    /// contract's.
    #[error("the component imports `{0}`, which sipwarden does not provide")]
    UnknownImport(String),
    /// The component's imports or exports do not have the contract's types
    /// (it was built against an incompatible version of [`WORLD`]).
    #[error("the component does not match the contract {WORLD}: {0}")]
    Contract(#[source] WasmError),
    /// The first instance could not be created, or its `init` trapped, ran
    /// out of memory or time.
    #[error("the plugin failed to start: {0}")]
    Start(#[source] Failure),
    /// The plugin's `init` returned an error for its `[config]`; the text is
    /// the plugin's.
    #[error("the plugin refused its configuration: {0}")]
    ConfigRefused(String),
    /// Any of the above, with the component file it happened to.
    #[error("{path}: {source}")]
    InPlugin {
        /// The component file.
        path: PathBuf,
        /// What went wrong with it.
        source: Box<LoadError>,
    },
    /// The engine itself could not be built (pooling allocator, WASI or
    /// contract linking).
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(#[source] WasmError),
    /// The thread that enforces call deadlines could not be started.
    #[error("cannot start the epoch thread: {0}")]
    EpochThread(#[source] std::io::Error),
}

/// An error from wasmtime, kept whole. Its message is the whole chain
/// (wasmtime's first line alone rarely says what is wrong with a
/// component), and the chain is also its source, for whoever walks it.
#[derive(Debug)]
pub struct WasmError(wasmtime::Error);

impl From<wasmtime::Error> for WasmError {
    fn from(error: wasmtime::Error) -> Self {
        WasmError(error)
    }
}

impl std::fmt::Display for WasmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for WasmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The engine plugins are compiled and run in.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

/// What every plugin of an engine shares.
pub(crate) struct Shared {
    pub(crate) wasmtime: wasmtime::Engine,
    pub(crate) linker: Linker<PluginState>,
    pub(crate) capabilities: Arc<Capabilities>,
    trusted_keys: TrustedKeys,
    /// Times plugin calls for their latency histograms. A TSC read where
    /// the CPU has an invariant one (the OS clock otherwise): two reads per
    /// call cost about 35 ns on the project's VM against 60 ns for
    /// `Instant`, on a call of about 0.6 µs.
    pub(crate) clock: quanta::Clock,
    ticker: EpochTicker,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.ticker.stop.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch so that a call's deadline can interrupt it
/// wherever it is spinning (epoch interruption checks at loop back-edges and
/// function entries, far cheaper than fuel). The epoch only says "look at
/// the clock": each store's deadline callback compares the wall clock with
/// the call's deadline (`plugin.rs`), so the period can change while calls
/// run without stopping one early.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    /// The period, in microseconds; it only shrinks.
    period_micros: Arc<AtomicU64>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<EpochTicker, LoadError> {
        let stop = Arc::new(AtomicBool::new(false));
        let period_micros = Arc::new(AtomicU64::new(micros(MAX_TICK)));
        let (flag, period) = (stop.clone(), period_micros.clone());
        thread::Builder::new()
            .name("sipwarden-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_micros(period.load(Ordering::Relaxed)));
                    engine.increment_epoch();
                }
            })
            .map_err(LoadError::EpochThread)?;
        Ok(EpochTicker { stop, period_micros })
    }

    /// Tick often enough for a plugin whose calls have `deadline`. The
    /// period does not grow back when that plugin is unloaded: a finer tick
    /// than needed costs a little CPU, never a wrong deadline.
    fn follow(&self, deadline: Duration) {
        let period = (deadline / 10).clamp(MIN_TICK, MAX_TICK);
        self.period_micros.fetch_min(micros(period), Ordering::Relaxed);
    }

    fn period(&self) -> Duration {
        Duration::from_micros(self.period_micros.load(Ordering::Relaxed))
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Build an engine whose plugins get these capabilities.
    pub fn new(options: &EngineOptions, capabilities: Capabilities) -> Result<Engine, LoadError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // A policy recursing without bound hits this and traps long before
        // the host's own stack is in danger.
        config.max_wasm_stack(512 * 1024);
        if let Some(slots) = options.pool_slots {
            let mut pool = PoolingAllocationConfig::default();
            // Per component instance: a Rust plugin is a few core instances
            // and one memory; a componentize-py one is the interpreter,
            // libc and adapters, about a dozen core instances.
            pool.total_component_instances(slots)
                .total_core_instances(slots * CORE_PER_COMPONENT)
                .total_memories(slots * MEMORIES_PER_COMPONENT)
                .total_tables(slots * CORE_PER_COMPONENT)
                .total_stacks(slots)
                .max_memory_size(MAX_MEMORY_MIB as usize * 1024 * 1024);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        if let Some(dir) = &options.cache_dir {
            // The cache is an optimisation: if it cannot be set up, compile
            // every time and say so.
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!(dir = %dir.display(), "compiled-component cache disabled: {e}"),
            }
        }
        let wasmtime = wasmtime::Engine::new(&config).map_err(|e| LoadError::Engine(e.into()))?;

        let mut linker = Linker::new(&wasmtime);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| LoadError::Engine(e.into()))?;
        bindings::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Engine(e.into()))?;

        let ticker = EpochTicker::start(wasmtime.clone())?;
        Ok(Engine {
            shared: Arc::new(Shared {
                wasmtime,
                linker,
                capabilities: Arc::new(capabilities),
                trusted_keys: options.trusted_keys.clone(),
                clock: quanta::Clock::new(),
                ticker,
            }),
        })
    }

    /// The capabilities the engine's plugins are given: a reload swaps the
    /// stores behind them (see `crate::reload`).
    pub fn capabilities(&self) -> &Arc<Capabilities> {
        &self.shared.capabilities
    }

    /// How late past its deadline a runaway call may be stopped, at most.
    pub fn deadline_resolution(&self) -> Duration {
        self.shared.ticker.period()
    }

    /// Make the epoch tick often enough for calls with this deadline.
    pub(crate) fn follow_deadline(&self, deadline: Duration) {
        self.shared.ticker.follow(deadline);
    }

    /// The keys components must be signed by; none when signatures are
    /// not required.
    pub fn trusted_keys(&self) -> &TrustedKeys {
        &self.shared.trusted_keys
    }

    /// Load `NAME.wasm`, with `NAME.toml` beside it as its manifest and
    /// `NAME.wasm.sig` as its detached signature, if there are.
    pub fn load_file(&self, wasm: &Path) -> Result<Plugin, LoadError> {
        let manifest_path = wasm.with_extension("toml");
        let manifest = if manifest_path.exists() { Manifest::load(&manifest_path)? } else { Manifest::default() };
        self.load_file_with(wasm, manifest)
    }

    /// Load a component file (and its `NAME.wasm.sig`, if any) with the
    /// given manifest.
    pub fn load_file_with(&self, wasm: &Path, manifest: Manifest) -> Result<Plugin, LoadError> {
        let name = wasm.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(wasm).map_err(|source| LoadError::Read { path: wasm.to_path_buf(), source })?;
        let detached = read_detached_signature(wasm)?;
        self.load(&name, &bytes, detached.as_deref(), manifest)
            .map_err(|e| LoadError::InPlugin { path: wasm.to_path_buf(), source: Box::new(e) })
    }

    /// Compile, check and start a plugin: everything `sipwarden check` does,
    /// plus the plugin's own check of its configuration. `detached` is its
    /// `NAME.wasm.sig`, if it has one.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        detached: Option<&[u8]>,
        manifest: Manifest,
    ) -> Result<Plugin, LoadError> {
        check_name_and_kind(name, bytes)?;
        // Before anything reads the code: an untrusted component is never
        // handed to the compiler.
        let signer = self.shared.trusted_keys.admit(bytes, detached)?;
        let component = self.compile(name, bytes, &manifest)?;
        check_imports(&component, &self.shared.wasmtime, &manifest)?;
        Plugin::start(self.clone(), name, component, hex::encode(Sha256::digest(bytes)), signer, manifest)
    }

    /// Compile a component and check that it is one of ours, without
    /// checking its imports against any manifest, nor its signature.
    pub fn compile(&self, name: &str, bytes: &[u8], manifest: &Manifest) -> Result<Component, LoadError> {
        check_name_and_kind(name, bytes)?;
        if let Some(pin) = &manifest.sha256 {
            let actual = hex::encode(Sha256::digest(bytes));
            if actual != pin.hex() {
                return Err(LoadError::DigestMismatch { pinned: pin.hex().to_string(), actual });
            }
        }
        let component = Component::new(&self.shared.wasmtime, bytes).map_err(|e| LoadError::Compile(e.into()))?;
        // `Component::get_export_index` matches semver-compatibly (a
        // component built against 0.1.0 exports `policy@0.1.0`), where the
        // component type's look-up wants the exact name.
        if component.get_export_index(None, POLICY_EXPORT).is_none() {
            return Err(LoadError::MissingExport);
        }
        Ok(component)
    }

    /// The import and export names of a component, for `sipwarden check`.
    pub fn describe(&self, component: &Component) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let engine = &self.shared.wasmtime;
        let imports = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let exports = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        (imports, exports)
    }
}

/// A plugin's name is kept to a safe alphabet, and its file must be a
/// component.
fn check_name_and_kind(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(LoadError::BadName(name.to_string()));
    }
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => Err(LoadError::CoreModule),
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(LoadError::NotWasm),
    }
}

/// The contents of `NAME.wasm.sig` beside a component; `None` when there is
/// no such file.
pub fn read_detached_signature(wasm: &Path) -> Result<Option<Vec<u8>>, LoadError> {
    let path = signature_path(wasm);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LoadError::Read { path, source }),
    }
}

/// Which capability an import needs, if it is one of the contract's.
pub fn capability_of(import: &str) -> Result<Option<Capability>, LoadError> {
    if import.starts_with("wasi:") {
        // Linked with every door shut (see `sandbox.rs`).
        return Ok(None);
    }
    let Some(rest) = import.strip_prefix("sipwarden:policy/") else {
        return Err(LoadError::UnknownImport(import.to_string()));
    };
    let interface = rest.split('@').next().unwrap_or_default();
    if interface == "types" {
        return Ok(None);
    }
    Capability::ALL
        .into_iter()
        .find(|c| c.interface() == interface)
        .map(Some)
        .ok_or_else(|| LoadError::UnknownImport(import.to_string()))
}

fn check_imports(component: &Component, engine: &wasmtime::Engine, manifest: &Manifest) -> Result<(), LoadError> {
    for (import, _) in component.component_type().imports(engine) {
        if let Some(capability) = capability_of(import)?
            && !manifest.grants(capability)
        {
            return Err(LoadError::UngrantedImport { import: import.to_string(), capability });
        }
    }
    Ok(())
}
