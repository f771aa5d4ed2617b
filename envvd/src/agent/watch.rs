//! Decrypted environments leave memory as soon as their file changes on
//! disk, not at the next read: a watch (inotify on Linux) on the directory
//! of each cached file. The stamp checked on every read stays the guarantee
//! (a watch can miss changes, on a network filesystem say); this shortens
//! how long plaintext of an outdated file lingers in the agent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use notify::{EventKind, RecursiveMode, Watcher};

pub(super) struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    dirs: HashSet<PathBuf>,
}

impl Watch {
    /// Sends the path of every file that changes in a watched directory.
    pub fn new(changed: Sender<PathBuf>) -> Watch {
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else {
                return;
            };
            // Reading a file (ours included) is no change.
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                let _ = changed.send(path);
            }
        });
        let watcher = watcher
            .inspect_err(|e| {
                tracing::warn!(error = %e, "no file watching; changed files are noticed at the next read")
            })
            .ok();
        Watch {
            watcher,
            dirs: HashSet::new(),
        }
    }

    /// Watches the directory `file` is in, once.
    pub fn file(&mut self, file: &Path) {
        let (Some(watcher), Some(dir)) = (self.watcher.as_mut(), file.parent()) else {
            return;
        };
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
}
