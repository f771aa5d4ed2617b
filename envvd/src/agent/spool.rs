//! The audit spool: every decrypt, exec, set, unset and import of a team
//! file is appended here, durably, before the request is answered; a
//! shipper sends it to the control plane in batches. Each event carries its
//! own UUID and the server stores each UUID once, so a batch re-sent after
//! a crash or an outage counts once.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use envv_api::ClientEvent;
use uuid::Uuid;

/// One file per team: `<data>/spool/<team>.jsonl`, 0600 in a 0700 folder.
pub(super) struct Spool {
    dir: PathBuf,
    /// Appends and the shipper's rewrite exclude each other, so an event
    /// recorded while a batch is being shipped is never dropped.
    writing: std::sync::Mutex<()>,
}

impl Spool {
    pub fn new(data_dir: &Path) -> Spool {
        Spool {
            dir: data_dir.join("spool"),
            writing: std::sync::Mutex::new(()),
        }
    }

    fn file(&self, team: Uuid) -> PathBuf {
        self.dir.join(format!("{team}.jsonl"))
    }

    /// Appends one event and syncs it to disk.
    pub fn append(&self, team: Uuid, event: &ClientEvent) -> std::io::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.file(team))?;
        // One write of a whole line: a crash leaves it whole or absent
        // (a torn last line is skipped when read back).
        file.write_all(&line)?;
        file.sync_data()
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

    #[test]
    fn events_appended_while_a_batch_ships_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = std::sync::Arc::new(Spool::new(dir.path()));
        let team = Uuid::new_v4();
        let writer = {
            let spool = spool.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for _ in 0..300 {
                    let e = event();
                    ids.push(e.id);
                    spool.append(team, &e).unwrap();
                }
                ids
            })
        };
        let mut shipped = Vec::new();
        while !writer.is_finished() || spool.pending(team) > 0 {
            let batch: Vec<Uuid> = spool.peek(team, 50).unwrap().iter().map(|e| e.id).collect();
            spool.remove(team, &batch).unwrap();
            shipped.extend(batch);
        }
        let written = writer.join().unwrap();
        assert_eq!(shipped, written, "every event shipped once, in order");
    }
}
