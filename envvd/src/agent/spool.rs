//! The audit spool: every decrypt, exec, set, unset and import of a team
//! file is appended here, durably, before the request is answered; a
//! shipper sends it to the control plane in batches. Each event carries its
//! own UUID and the server stores each UUID once, so a batch re-sent after
//! a crash or an outage counts once.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use envv_api::ClientEvent;
use uuid::Uuid;

/// One file per team: `<data>/spool/<team>.jsonl`, 0600 in a 0700 folder.
pub(super) struct Spool {
    dir: PathBuf,
    /// Appends and the shipper's rewrite exclude each other, so an event
    /// recorded while a batch is being shipped is never dropped.
    writing: std::sync::Mutex<()>,
    /// Events waiting for the next group write (see [`Spool::record`]).
    queue: std::sync::Mutex<Vec<Queued>>,
}

/// An event on its way to disk, and who waits for it to get there.
struct Queued {
    team: Uuid,
    line: Vec<u8>,
    done: tokio::sync::oneshot::Sender<std::io::Result<()>>,
}

impl Spool {
    pub fn new(data_dir: &Path) -> Spool {
        Spool {
            dir: data_dir.join("spool"),
            writing: std::sync::Mutex::new(()),
            queue: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn file(&self, team: Uuid) -> PathBuf {
        self.dir.join(format!("{team}.jsonl"))
    }

    /// Appends one event and syncs it to disk, before the request it
    /// records is answered.
    ///
    /// Group commit: the event joins a queue, and the first one into an
    /// empty queue starts a write on a blocking thread that takes every
    /// event queued by the time it runs, writes them and syncs each file
    /// once. A hundred clients reading at once cost a few syncs, not a
    /// hundred in a row, and no sync ever blocks the runtime's workers.
    pub async fn record(self: &Arc<Self>, team: Uuid, event: &ClientEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let (done, written) = tokio::sync::oneshot::channel();
        let first = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(Queued { team, line, done });
            queue.len() == 1
        };
        if first {
            let spool = self.clone();
            tokio::task::spawn_blocking(move || spool.write_queued());
        }
        written
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the audit spool's writer stopped")))
    }

    /// Writes everything queued, then tells each waiter how it went.
    fn write_queued(&self) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let queued = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        let written = self.write_lines(&queued);
        for q in queued {
            let result = match &written {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            let _ = q.done.send(result);
        }
    }

    /// Appends `queued` to their teams' files, one sync per file. The
    /// caller holds `writing`.
    fn write_lines(&self, queued: &[Queued]) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut teams: Vec<Uuid> = queued.iter().map(|q| q.team).collect();
        teams.sort_unstable();
        teams.dedup();
        for team in teams {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(self.file(team))?;
            // Whole lines in one write each: a crash leaves each line whole
            // or absent (a torn last line is skipped when read back).
            let lines: Vec<u8> = queued
                .iter()
                .filter(|q| q.team == team)
                .flat_map(|q| q.line.iter().copied())
                .collect();
            file.write_all(&lines)?;
            file.sync_data()?;
        }
        Ok(())
    }

    /// Teams with events waiting.
    pub fn teams(&self) -> Vec<Uuid> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".jsonl")?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Up to `max` waiting events of `team`, oldest first.
    pub fn peek(&self, team: Uuid, max: usize) -> std::io::Result<Vec<ClientEvent>> {
        let file = match fs::File::open(self.file(team)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str(&line).ok())
            .take(max)
            .collect())
    }

    pub fn pending(&self, team: Uuid) -> usize {
        self.peek(team, usize::MAX).map_or(0, |events| events.len())
    }

    /// Drops the events the server has stored, keeping any appended since.
    pub fn remove(&self, team: Uuid, shipped: &[Uuid]) -> std::io::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.file(team);
        let remaining: Vec<ClientEvent> = self
            .peek(team, usize::MAX)?
            .into_iter()
            .filter(|e| !shipped.contains(&e.id))
            .collect();
        if remaining.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let tmp = path.with_extension("jsonl.tmp");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        for event in &remaining {
            let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
            line.push(b'\n');
            file.write_all(&line)?;
        }
        file.sync_data()?;
        fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ClientEvent {
        ClientEvent {
            id: Uuid::new_v4(),
            action: "exec".into(),
            occurred_at: chrono::Utc::now(),
            secret_names: vec!["KEY".into()],
            env: None,
            path_hash: None,
            secret_count: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_recorded_while_a_batch_ships_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::new(dir.path()));
        let team = Uuid::new_v4();
        // Ten writers at once, so group writes hold several events.
        let writers: Vec<_> = (0..10)
            .map(|_| {
                let spool = spool.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for _ in 0..30 {
                        let e = event();
                        ids.push(e.id);
                        spool.record(team, &e).await.unwrap();
                    }
                    ids
                })
            })
            .collect();
        let shipper = {
            let spool = spool.clone();
            tokio::task::spawn_blocking(move || {
                let mut shipped = Vec::new();
                while shipped.len() < 300 {
                    let batch: Vec<Uuid> =
                        spool.peek(team, 50).unwrap().iter().map(|e| e.id).collect();
                    spool.remove(team, &batch).unwrap();
                    shipped.extend(batch);
                }
                shipped
            })
        };
        let mut written = Vec::new();
        for writer in writers {
            written.extend(writer.await.unwrap());
        }
        let mut shipped = shipper.await.unwrap();
        assert_eq!(spool.pending(team), 0);
        written.sort();
        shipped.sort();
        assert_eq!(shipped, written, "every event shipped once");
    }
}
