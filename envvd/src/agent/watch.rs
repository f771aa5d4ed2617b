//! Decrypted environments leave memory as soon as their file changes on
//! disk, not at the next read: a watch (inotify on Linux) on the directory
//! of each cached file. The stamp checked on every read stays the guarantee
//! (a watch can miss changes, on a network filesystem say); this shortens
//! how long plaintext of an outdated file lingers in the agent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use notify::{EventKind, RecursiveMode, Watcher};

pub(super) struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    /// The files whose change matters, shared with the watcher's callback
    /// so other files in those directories cost nothing.
    cached: Arc<Mutex<HashSet<PathBuf>>>,
    dirs: HashSet<PathBuf>,
}

fn set(files: &Mutex<HashSet<PathBuf>>) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
    files.lock().unwrap_or_else(|e| e.into_inner())
}

impl Watch {
    /// Sends the path of every cached file that changes.
    pub fn new(changed: Sender<PathBuf>) -> Watch {
        let cached = Arc::new(Mutex::new(HashSet::new()));
        let files = cached.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else {
                return;
            };
            // Reading a file (ours included) is no change.
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                if set(&files).contains(&path) {
                    let _ = changed.send(path);
                }
            }
        });
        let watcher = watcher
            .inspect_err(|e| {
                tracing::warn!(error = %e, "no file watching; changed files are noticed at the next read")
            })
            .ok();
        Watch {
            watcher,
            cached,
            dirs: HashSet::new(),
        }
    }

    /// Watches `file` (through its directory, which our atomic renames and
    /// a checkout's replace).
    pub fn file(&mut self, file: &Path) {
        let (Some(watcher), Some(dir)) = (self.watcher.as_mut(), file.parent()) else {
            return;
        };
        set(&self.cached).insert(file.to_path_buf());
        if self.dirs.contains(dir) {
            return;
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.dirs.insert(dir.to_path_buf());
            }
            Err(e) => tracing::debug!(error = %e, dir = %dir.display(), "could not watch"),
        }
    }

    /// Nothing is cached any more (the agent locked): every watch goes,
    /// and the user's inotify watches with it.
    pub fn clear(&mut self) {
        set(&self.cached).clear();
        if let Some(watcher) = self.watcher.as_mut() {
            for dir in self.dirs.drain() {
                let _ = watcher.unwatch(&dir);
            }
        }
    }
}
