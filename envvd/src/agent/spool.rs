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
}

impl Spool {
    pub fn new(data_dir: &Path) -> Spool {
        Spool {
            dir: data_dir.join("spool"),
        }
    }

    fn file(&self, team: Uuid) -> PathBuf {
        self.dir.join(format!("{team}.jsonl"))
    }

    /// Appends one event and syncs it to disk.
    pub fn append(&self, team: Uuid, event: &ClientEvent) -> std::io::Result<()> {
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
