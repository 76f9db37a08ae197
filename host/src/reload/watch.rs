//! What starts a reload besides the admin API: a change to a file of the
//! plugin directory or to a capability store, and SIGHUP.
//!
//! File events are debounced: a reload starts once the files have been quiet
//! for a moment, so that a component being copied in is not read half-written
//! (and if a slow copy is read anyway, the engine refuses the truncated
//! component, the old version keeps serving, and the copy's next write
//! triggers another try).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Reloader, Trigger};

/// How long files must be quiet before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// The file watch could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    /// The directory that could not be watched: the plugin directory, or
    /// one holding a store file.
    pub path: PathBuf,
    /// Why not, as the operating system's watch facility (inotify, kqueue…) said.
    #[source]
    pub source: notify::Error,
}

/// A running watch; dropping it stops it.
pub struct Watch {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which file names matter in one watched directory.
#[derive(Debug, Default)]
struct Interest {
    /// Any `*.wasm`, `*.wasm.sig` and `*.toml`: the plugin directory.
    plugins: bool,
    /// These names exactly: store files.
    files: Vec<OsString>,
}

impl Interest {
    fn covers(&self, name: &Path) -> bool {
        let plugin_file = name.extension().is_some_and(|e| e == "wasm" || e == "toml" || e == "sig");
        (self.plugins && plugin_file) || self.files.iter().any(|f| name.as_os_str() == f)
    }
}

/// Watch the plugin directory and the store files, reloading after each
/// burst of changes. Directories are watched rather than the store files
/// themselves, so that a file replaced by a rename (as editors and
/// configuration tools save) is still seen.
pub fn watch(reloader: Arc<Reloader>, debounce: Duration) -> Result<Watch, WatchError> {
    let mut interests: HashMap<PathBuf, Interest> = HashMap::new();
    interests.entry(absolute(reloader.dir())).or_default().plugins = true;
    let stores = reloader.stores();
    let store_files = stores.directory.as_ref().map(|(path, _)| path).into_iter().chain(stores.credentials.as_ref());
    for file in store_files {
        let file = absolute(file);
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else { continue };
        interests.entry(dir.to_path_buf()).or_default().files.push(name.to_os_string());
    }

    let changed = Arc::new(Notify::new());
    let interests = Arc::new(interests);
    let handler = {
        let changed = changed.clone();
        let interests = interests.clone();
        move |event: notify::Result<Event>| match event {
            Ok(event) if relevant(&event, &interests) => changed.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!("file watch: {e}"),
        }
    };
    let mut watcher = notify::recommended_watcher(handler)
        .map_err(|source| WatchError { path: reloader.dir().to_path_buf(), source })?;
    for dir in interests.keys() {
        watcher.watch(dir, RecursiveMode::NonRecursive).map_err(|source| WatchError { path: dir.clone(), source })?;
    }

    let task = tokio::spawn(async move {
        loop {
            changed.notified().await;
            // Wait until the files have been quiet for `debounce`.
            loop {
                tokio::select! {
                    () = changed.notified() => continue,
                    () = tokio::time::sleep(debounce) => break,
                }
            }
            reloader.reload(Trigger::Watch).await;
        }
    });
    Ok(Watch { _watcher: watcher, task })
}

/// A change to a file we care about. Reads are not changes: a reload reads
/// every file, and must not set off the next one.
fn relevant(event: &Event, interests: &HashMap<PathBuf, Interest>) -> bool {
    let change = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    change
        && event.paths.iter().any(|path| {
            let path = absolute(path);
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return false };
            interests.get(dir).is_some_and(|interest| interest.covers(Path::new(name)))
        })
}

/// The watcher reports paths made absolute from the current directory (a
/// relative `[plugins] dir` comes back as an absolute one), so both sides
/// are compared that way.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reload on every SIGHUP until the returned task is aborted.
#[cfg(unix)]
pub fn on_hangup(reloader: Arc<Reloader>) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            reloader.reload(Trigger::Signal).await;
        }
    }))
}

/// There is no SIGHUP here: reloads come from file changes and the API.
#[cfg(not(unix))]
pub fn on_hangup(_reloader: Arc<Reloader>) -> std::io::Result<JoinHandle<()>> {
    Ok(tokio::spawn(async {}))
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind};

    use super::*;

    fn event(kind: EventKind, path: PathBuf) -> Event {
        Event::new(kind).add_path(path)
    }

    #[test]
    fn changes_to_plugin_and_store_files_count_and_reads_do_not() {
        let mut interests = HashMap::new();
        interests.insert(absolute(Path::new("plugins")), Interest { plugins: true, files: Vec::new() });
        interests.insert(absolute(Path::new("stores")), Interest { plugins: false, files: vec!["users.toml".into()] });
        let at = |p: &str| std::env::current_dir().unwrap().join(p);
        let modify = EventKind::Modify(ModifyKind::Any);

        assert!(relevant(&event(modify, at("plugins/gate.wasm")), &interests), "a relative dir matches");
        assert!(relevant(&event(EventKind::Create(CreateKind::File), at("plugins/gate.toml")), &interests));
        assert!(relevant(&event(modify, at("plugins/gate.wasm.sig")), &interests), "a detached signature");
        assert!(relevant(&event(modify, at("stores/users.toml")), &interests));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(relevant(&event(closed, at("plugins/gate.wasm")), &interests));

        assert!(!relevant(&event(modify, at("plugins/notes.txt")), &interests));
        assert!(!relevant(&event(modify, at("stores/other.toml")), &interests), "only the store files");
        assert!(!relevant(&event(modify, at("elsewhere/gate.wasm")), &interests));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!relevant(&event(read, at("plugins/gate.wasm")), &interests), "a reload's own reads");
    }
}
