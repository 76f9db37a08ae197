//! Hot reload: the plugin directory and the capability stores, re-read
//! while the proxy serves.
//!
//! A reload compares what is on disk with what serves, by the SHA-256 of each
//! component, of its manifest text and of its detached signature. Only a
//! plugin whose files changed is compiled, checked and started again (every
//! check of `sipwarden check`, its `init` with the new configuration, the
//! manifest's `sha256` pin, its signature when keys are trusted), on a
//! blocking thread, off the request path. The new chain reuses every
//! unchanged plugin as it is (with its warm instances and its counters) and
//! is swapped in atomically: requests being decided finish on the chain they
//! started with.
//!
//! A plugin that fails to load never replaces a working one: the version
//! that served keeps serving, and the failure is logged and kept as the
//! plugin's `last_reload_error` for the admin API. The rest of the directory
//! reloads regardless, so one broken file cannot hold back the others.
//!
//! Reading order: this file (what a reload does), `watch.rs` (what starts
//! one: file changes and SIGHUP; the admin API's `POST /reload` is the third
//! trigger).

mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use watch::{DEBOUNCE, Watch, WatchError, on_hangup, watch};

use crate::capability::CredentialStore;
use crate::config::Stores;
use crate::policy::{Chain, Engine, LoadError, Manifest, Plugin, SharedChain, read_detached_signature};

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A file of the plugin directory or a store changed.
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /reload`.
    Api,
}

impl Trigger {
    /// Every trigger, in the order of [`ReloadStats::reloads`].
    pub const ALL: [Trigger; 3] = [Trigger::Watch, Trigger::Signal, Trigger::Api];

    /// The trigger's `trigger` label in `/metrics` and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
        }
    }

    /// Whether files that were refused as they are now are tried again. An
    /// operator who asks for a reload gets every refused plugin retried; a
    /// file event elsewhere in the directory does not recompile a component
    /// already known to be broken.
    fn retries_refused(self) -> bool {
        !matches!(self, Trigger::Watch)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReloadReport {
    /// What started the reload.
    pub trigger: Trigger,
    /// New plugins now in the chain.
    pub added: Vec<Added>,
    /// Plugins whose component or manifest changed, now serving their new version.
    pub replaced: Vec<Replaced>,
    /// Plugins whose `.wasm` is gone, out of the chain.
    pub removed: Vec<Removed>,
    /// Plugins whose new files were refused: the old version (if any) still serves.
    pub refused: Vec<Refused>,
    /// Capability stores re-read because their file changed.
    pub stores: Vec<StoreReload>,
    /// Plugins on disk and serving as they are.
    pub unchanged: usize,
    /// The plugin directory could not be read: nothing changed.
    pub error: Option<String>,
    /// Time the reload took, in milliseconds.
    pub millis: u64,
}

/// A plugin new to the directory, now in the chain.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Added {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The SHA-256 of its component, lower-case hex.
    pub sha256: String,
}

/// A plugin whose new version now serves in place of the old one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Replaced {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The SHA-256 of the component that served until this reload.
    pub old_sha256: String,
    /// The same as `old_sha256` when only the manifest changed.
    pub new_sha256: String,
}

/// A plugin whose `.wasm` is gone, taken out of the chain.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Removed {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The SHA-256 of the component that served until this reload.
    pub sha256: String,
}

/// A plugin version that failed to load: what serves is unchanged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Refused {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The SHA-256 of the refused component, when it could be read.
    pub sha256: Option<String>,
    /// Why it was refused, as the load error says it.
    pub error: String,
    /// Whether an older version keeps serving (false: a new plugin that never loaded).
    pub old_version_serves: bool,
}

/// A capability store whose file changed, and whether it was taken.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StoreReload {
    /// `directory` or `credentials`.
    pub store: &'static str,
    /// The store's file, as configured.
    pub path: PathBuf,
    /// Why the file was not taken (the previous contents stay in use).
    pub error: Option<String>,
}

/// What the admin API shows of one plugin: the version that serves, or a
/// new plugin whose every version so far was refused.
#[derive(Debug, Clone)]
pub struct PluginStatus {
    /// The plugin's name (its file stem).
    pub name: String,
    /// The serving component's SHA-256; `None` when no version loaded.
    pub sha256: Option<String>,
    /// When the serving version was loaded; `None` when no version loaded.
    pub loaded_at: Option<SystemTime>,
    /// Index in the chain (0 runs first); `None` when not in the chain.
    pub position: Option<usize>,
    /// The serving manifest's `order`; `None` when no version loaded.
    pub order: Option<i32>,
    /// The serving plugin, for its counters.
    pub plugin: Option<Arc<Plugin>>,
    /// Why the files on disk were last refused; cleared when a version loads
    /// or the files are put back as they were.
    pub last_reload_error: Option<String>,
    /// The SHA-256 of the refused component on disk.
    pub refused_sha256: Option<String>,
}

/// Reload counters, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadStats {
    /// Reloads per trigger, in the order of [`Trigger::ALL`].
    pub reloads: [u64; 3],
    /// Plugins added to the chain by reloads.
    pub added: u64,
    /// Plugins replaced by a new version.
    pub replaced: u64,
    /// Plugins taken out of the chain because their `.wasm` went.
    pub removed: u64,
    /// Plugin versions refused.
    pub refused: u64,
    /// Number-directory files that could not be taken.
    pub directory_failures: u64,
    /// Credentials files that could not be taken.
    pub credentials_failures: u64,
    /// Reloads that could not read the plugin directory.
    pub directory_unreadable: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reloads: [AtomicU64; 3],
    added: AtomicU64,
    replaced: AtomicU64,
    removed: AtomicU64,
    refused: AtomicU64,
    directory_failures: AtomicU64,
    credentials_failures: AtomicU64,
    directory_unreadable: AtomicU64,
}

/// Which files a plugin version came from: the digests of the component,
/// the manifest text (`None`: no manifest) and the detached signature
/// (`None`: none).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    wasm: String,
    manifest: Option<String>,
    signature: Option<String>,
}

/// One plugin name of the directory.
#[derive(Debug, Default)]
struct Slot {
    serving: Option<Serving>,
    refused: Option<Refusal>,
}

#[derive(Debug)]
struct Serving {
    plugin: Arc<Plugin>,
    fingerprint: Fingerprint,
}

#[derive(Debug)]
struct Refusal {
    /// `None` when the files could not even be read: always tried again.
    fingerprint: Option<Fingerprint>,
    error: String,
}

/// The plugins as last loaded, by name, and the store files as last read.
#[derive(Debug, Default)]
pub struct Loaded {
    plugins: BTreeMap<String, Slot>,
    directory_digest: Option<String>,
    credentials_digest: Option<String>,
}

impl Loaded {
    /// Load every plugin of a directory, for the server's start. One plugin
    /// that fails fails the whole start: an operator must never start a
    /// chain with a policy silently missing (at a reload, the old version
    /// keeps that promise instead).
    pub fn load_dir(engine: &Engine, dir: &Path) -> Result<Loaded, LoadError> {
        let found = scan(dir).map_err(|source| LoadError::Read { path: dir.to_path_buf(), source })?;
        let mut plugins = BTreeMap::new();
        for file in found {
            let file = file?;
            let plugin = Arc::new(file.load(engine)?);
            let serving = Serving { plugin, fingerprint: file.fingerprint };
            plugins.insert(file.name, Slot { serving: Some(serving), refused: None });
        }
        Ok(Loaded { plugins, directory_digest: None, credentials_digest: None })
    }

    /// What the admin API shows of each plugin (positions are filled in
    /// from the chain when asked).
    fn statuses(&self) -> Vec<PluginStatus> {
        self.plugins
            .iter()
            .map(|(name, slot)| {
                let plugin = slot.serving.as_ref().map(|s| s.plugin.clone());
                PluginStatus {
                    name: name.clone(),
                    sha256: plugin.as_ref().map(|p| p.sha256().to_string()),
                    loaded_at: plugin.as_ref().map(|p| p.loaded_at()),
                    position: None,
                    order: plugin.as_ref().map(|p| p.manifest().order),
                    last_reload_error: slot.refused.as_ref().map(|r| r.error.clone()),
                    refused_sha256: slot.refused.as_ref().and_then(|r| r.fingerprint.as_ref()).map(|f| f.wasm.clone()),
                    plugin,
                }
            })
            .collect()
    }

    /// The chain of the serving plugins.
    pub fn chain(&self) -> Chain {
        Chain::new(self.plugins.values().filter_map(|s| s.serving.as_ref()).map(|s| s.plugin.clone()).collect())
    }
}

/// Reloads the plugins that decide requests, in the proxy and the decision
/// service alike: both read the one [`SharedChain`] it swaps.
pub struct Reloader {
    engine: Engine,
    chain: SharedChain,
    dir: PathBuf,
    stores: Stores,
    /// Held for a whole reload: reloads never interleave.
    state: Mutex<Loaded>,
    /// The plugins as the last reload left them, for readers that must not
    /// wait for a reload (the admin API runs on the proxy's runtime).
    published: ArcSwap<Vec<PluginStatus>>,
    counters: Counters,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for `chain`, which serves `loaded.chain()` now.
    pub fn new(engine: Engine, chain: SharedChain, dir: PathBuf, stores: Stores, loaded: Loaded) -> Reloader {
        let published = ArcSwap::from_pointee(loaded.statuses());
        Reloader { engine, chain, dir, stores, state: Mutex::new(loaded), published, counters: Counters::default() }
    }

    /// The plugin directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store files to watch beside the plugin directory.
    fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Reload on a blocking thread, so that compiling components never holds
    /// up the threads that serve requests.
    pub async fn reload(self: &Arc<Self>, trigger: Trigger) -> ReloadReport {
        let reloader = self.clone();
        match tokio::task::spawn_blocking(move || reloader.reload_now(trigger)).await {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(trigger = trigger.as_str(), "reload task failed: {e}");
                let mut report = ReloadReport::new(trigger);
                report.error = Some(format!("reload task failed: {e}"));
                report
            }
        }
    }

    /// Reload now, on this thread (it compiles: not on an async worker).
    pub fn reload_now(&self, trigger: Trigger) -> ReloadReport {
        let started = Instant::now();
        let mut state = lock(&self.state);
        let mut report = ReloadReport::new(trigger);
        self.counters.reloads[trigger.index()].fetch_add(1, Ordering::Relaxed);
        match scan(&self.dir) {
            Ok(found) => {
                self.reload_plugins(&mut state, found, trigger, &mut report);
                self.published.store(Arc::new(state.statuses()));
            }
            Err(e) => {
                self.counters.directory_unreadable.fetch_add(1, Ordering::Relaxed);
                let error = format!("{}: cannot read: {e}", self.dir.display());
                tracing::warn!(trigger = trigger.as_str(), "reload: {error}; every plugin keeps serving");
                report.error = Some(error);
            }
        }
        self.reload_stores(&mut state, &mut report);
        report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            trigger = trigger.as_str(),
            added = report.added.len(),
            replaced = report.replaced.len(),
            removed = report.removed.len(),
            refused = report.refused.len(),
            unchanged = report.unchanged,
            stores = report.stores.len(),
            millis = report.millis,
            "reload done"
        );
        report
    }

    fn reload_plugins(
        &self,
        state: &mut Loaded,
        found: Vec<Result<OnDisk, LoadError>>,
        trigger: Trigger,
        report: &mut ReloadReport,
    ) {
        let mut present = BTreeSet::new();
        let mut changed = false;
        for file in found {
            let (name, file) = match file {
                Ok(file) => (file.name.clone(), Ok(file)),
                Err(e) => (error_name(&e), Err(e)),
            };
            present.insert(name.clone());
            let slot = state.plugins.entry(name.clone()).or_default();
            let file = match file {
                Ok(file) => file,
                Err(error) => {
                    self.refuse(&name, slot, None, &error, report);
                    continue;
                }
            };
            if slot.serving.as_ref().is_some_and(|s| s.fingerprint == file.fingerprint) {
                if slot.refused.take().is_some() {
                    tracing::info!(plugin = %name, "the refused files were put back as they serve: error cleared");
                }
                report.unchanged += 1;
                continue;
            }
            let known_bad = slot.refused.as_ref().is_some_and(|r| r.fingerprint.as_ref() == Some(&file.fingerprint));
            if known_bad && !trigger.retries_refused() {
                continue;
            }
            match file.load(&self.engine) {
                Ok(plugin) => {
                    let plugin = Arc::new(plugin);
                    let new_sha = plugin.sha256().to_string();
                    match &slot.serving {
                        Some(old) => {
                            let old_sha = old.plugin.sha256().to_string();
                            tracing::info!(plugin = %name, old = %old_sha, new = %new_sha, "plugin replaced");
                            self.counters.replaced.fetch_add(1, Ordering::Relaxed);
                            report.replaced.push(Replaced {
                                name: name.clone(),
                                old_sha256: old_sha,
                                new_sha256: new_sha,
                            });
                        }
                        None => {
                            tracing::info!(plugin = %name, sha256 = %new_sha, "plugin added");
                            self.counters.added.fetch_add(1, Ordering::Relaxed);
                            report.added.push(Added { name: name.clone(), sha256: new_sha });
                        }
                    }
                    slot.serving = Some(Serving { plugin, fingerprint: file.fingerprint });
                    slot.refused = None;
                    changed = true;
                }
                Err(error) => self.refuse(&name, slot, Some(file.fingerprint), &error, report),
            }
        }
        state.plugins.retain(|name, slot| {
            if present.contains(name) {
                return true;
            }
            if let Some(serving) = &slot.serving {
                let sha256 = serving.plugin.sha256().to_string();
                tracing::info!(plugin = %name, sha256 = %sha256, "plugin removed");
                self.counters.removed.fetch_add(1, Ordering::Relaxed);
                report.removed.push(Removed { name: name.clone(), sha256 });
                changed = true;
            }
            false
        });
        if changed {
            self.chain.store(state.chain());
        }
    }

    fn refuse(
        &self,
        name: &str,
        slot: &mut Slot,
        fingerprint: Option<Fingerprint>,
        error: &LoadError,
        report: &mut ReloadReport,
    ) {
        let error = error.to_string();
        let serves = slot.serving.is_some();
        if serves {
            tracing::warn!(plugin = %name, "reload refused, the old version keeps serving: {error}");
        } else {
            tracing::warn!(plugin = %name, "new plugin refused, it is not in the chain: {error}");
        }
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        report.refused.push(Refused {
            name: name.to_string(),
            sha256: fingerprint.as_ref().map(|f| f.wasm.clone()),
            error: error.clone(),
            old_version_serves: serves,
        });
        slot.refused = Some(Refusal { fingerprint, error });
    }

    /// Re-read each store whose file changed. A file that does not parse
    /// leaves the previous contents in use: a typo cannot empty a store.
    fn reload_stores(&self, state: &mut Loaded, report: &mut ReloadReport) {
        if let Some((path, directory)) = &self.stores.directory {
            let outcome =
                reload_if_changed(path, &mut state.directory_digest, || directory.reload().map_err(|e| e.to_string()));
            self.store_outcome("directory", path, outcome, &self.counters.directory_failures, report);
        }
        if let Some(path) = &self.stores.credentials {
            let capabilities = self.engine.capabilities();
            let outcome = reload_if_changed(path, &mut state.credentials_digest, || {
                let store = CredentialStore::load(path).map_err(|e| e.to_string())?;
                tracing::info!(path = %path.display(), users = store.len(), "credentials reloaded");
                capabilities.replace_credentials(store);
                Ok(())
            });
            self.store_outcome("credentials", path, outcome, &self.counters.credentials_failures, report);
        }
    }

    fn store_outcome(
        &self,
        store: &'static str,
        path: &Path,
        outcome: StoreOutcome,
        failures: &AtomicU64,
        report: &mut ReloadReport,
    ) {
        let error = match outcome {
            StoreOutcome::Unchanged => return,
            StoreOutcome::Taken => None,
            StoreOutcome::Failed(error) => {
                failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(store, "store not reloaded, the previous contents stay in use: {error}");
                Some(error)
            }
        };
        report.stores.push(StoreReload { store, path: path.to_path_buf(), error });
    }

    /// Every plugin: the serving ones in chain order, then the new ones that
    /// were refused, by name. Never waits for a reload in progress: it shows
    /// the state the last one left.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        let chain = self.chain.load();
        let mut statuses = self.published.load().as_ref().clone();
        for status in &mut statuses {
            status.position =
                status.plugin.as_ref().and_then(|p| chain.plugins().iter().position(|c| Arc::ptr_eq(c, p)));
        }
        statuses.sort_by(|a, b| {
            (a.position.is_none(), a.position, &a.name).cmp(&(b.position.is_none(), b.position, &b.name))
        });
        statuses
    }

    /// The reload counters since start, for `/metrics`.
    pub fn stats(&self) -> ReloadStats {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReloadStats {
            reloads: [n(&c.reloads[0]), n(&c.reloads[1]), n(&c.reloads[2])],
            added: n(&c.added),
            replaced: n(&c.replaced),
            removed: n(&c.removed),
            refused: n(&c.refused),
            directory_failures: n(&c.directory_failures),
            credentials_failures: n(&c.credentials_failures),
            directory_unreadable: n(&c.directory_unreadable),
        }
    }
}

impl ReloadReport {
    fn new(trigger: Trigger) -> ReloadReport {
        ReloadReport {
            trigger,
            added: Vec::new(),
            replaced: Vec::new(),
            removed: Vec::new(),
            refused: Vec::new(),
            stores: Vec::new(),
            unchanged: 0,
            error: None,
            millis: 0,
        }
    }

    /// Whether the chain changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty())
    }
}

/// What became of a store file at a reload.
enum StoreOutcome {
    Unchanged,
    Taken,
    Failed(String),
}

/// Run `reload` when the file's digest differs from the one last taken.
fn reload_if_changed(
    path: &Path,
    last: &mut Option<String>,
    reload: impl FnOnce() -> Result<(), String>,
) -> StoreOutcome {
    let digest = match std::fs::read(path) {
        Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
        Err(e) => return StoreOutcome::Failed(format!("{}: cannot read: {e}", path.display())),
    };
    if last.as_deref() == Some(digest.as_str()) {
        return StoreOutcome::Unchanged;
    }
    match reload() {
        Ok(()) => {
            *last = Some(digest);
            StoreOutcome::Taken
        }
        Err(error) => StoreOutcome::Failed(error),
    }
}

/// One plugin's files, read once: what is hashed is what is loaded.
struct OnDisk {
    name: String,
    wasm: PathBuf,
    bytes: Vec<u8>,
    manifest: Option<(PathBuf, String)>,
    /// `NAME.wasm.sig`, when there is one.
    signature: Option<Vec<u8>>,
    fingerprint: Fingerprint,
}

impl OnDisk {
    fn load(&self, engine: &Engine) -> Result<Plugin, LoadError> {
        let in_plugin = |e: LoadError| LoadError::InPlugin { path: self.wasm.clone(), source: Box::new(e) };
        let manifest = match &self.manifest {
            Some((path, text)) => Manifest::parse(text, path).map_err(|e| in_plugin(e.into()))?,
            None => Manifest::default(),
        };
        engine.load(&self.name, &self.bytes, self.signature.as_deref(), manifest).map_err(in_plugin)
    }
}

/// Every `*.wasm` of the directory with its manifest, sorted by name. A
/// plugin whose files cannot be read is an error of its own (named by its
/// path); a file that vanished since the listing is simply not there.
fn scan(dir: &Path) -> io::Result<Vec<Result<OnDisk, LoadError>>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths.into_iter().filter_map(|path| read_plugin(path).transpose()).collect())
}

fn read_plugin(wasm: PathBuf) -> Result<Option<OnDisk>, LoadError> {
    let name = wasm.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = match std::fs::read(&wasm) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LoadError::Read { path: wasm, source }),
    };
    let manifest_path = wasm.with_extension("toml");
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some((manifest_path, text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(LoadError::Read { path: manifest_path, source }),
    };
    let signature = read_detached_signature(&wasm)?;
    let fingerprint = Fingerprint {
        wasm: hex::encode(Sha256::digest(&bytes)),
        manifest: manifest.as_ref().map(|(_, text)| hex::encode(Sha256::digest(text.as_bytes()))),
        signature: signature.as_ref().map(|sig| hex::encode(Sha256::digest(sig))),
    };
    Ok(Some(OnDisk { name, wasm, bytes, manifest, signature, fingerprint }))
}

/// The plugin a read error is about: the stem of the file it names.
fn error_name(error: &LoadError) -> String {
    match error {
        LoadError::Read { path, .. } | LoadError::InPlugin { path, .. } => {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// The state is plain data replaced whole at the end of each step; a panic
/// in a reload leaves it as consistent as the chain that serves.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
