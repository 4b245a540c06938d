//! The events archive: synced events, before retention deletes them, appended to gzip JSON
//! Lines files, one per UTC day of `created_at` (`events-2026-12-03.jsonl.gz`), one event a
//! line, each line the JSON `GET /api/v1/events` returns for it. Format and recovery are
//! described for operators in `docs/operations.md`, "Archive".
//!
//! Each append is one gzip member (concatenated members are one valid gzip stream, so
//! `zcat` reads a file whole) written and fsynced before the rows are deleted. `MANIFEST.json`
//! records, after every append, the highest `seq` archived and each file's committed length:
//! - a crash in the middle of an append leaves bytes past the committed length; opening the
//!   archive cuts them off, and the events, still in the database, are appended again;
//! - a crash after the manifest was written but before the delete committed leaves events
//!   both archived and in the database; they are not appended twice (their `seq` is not
//!   above the manifest's) and the next pass deletes them.
//!
//! So an event is never lost and never archived twice. `<file>.sha256` (the format of
//! `sha256sum`, so `sha256sum -c` checks it) is rewritten at the end of each pass that
//! touched the file; after a crash it lags until the next pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use inventory_shared::outbox::StoredEvent;
use inventory_shared::time;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest in the archive folder.
pub const MANIFEST: &str = "MANIFEST.json";

/// What the archive folder has committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Highest `seq` archived; events are appended in `seq` order.
    last_seq: i64,
    /// Committed length of each day file, by file name.
    files: BTreeMap<String, u64>,
}

/// An open archive folder. Used from one blocking thread at a time.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    manifest: Manifest,
    /// Files appended to since the last [`Archive::seal`].
    touched: BTreeSet<String>,
}

/// The day file an event belongs to.
pub fn file_name(event: &StoredEvent) -> String {
    format!("events-{}.jsonl.gz", event.created_at.format("%Y-%m-%d"))
}

impl Archive {
    /// Opens (creating) the folder and undoes a torn append: each file is cut back to the
    /// length the manifest committed, and a day file the manifest never named is removed.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the archive folder {}", dir.display()))?;
        let manifest = match std::fs::read(dir.join(MANIFEST)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(e).context("reading the archive manifest"),
        };
        let mut archive = Self {
            dir: dir.to_owned(),
            manifest,
            touched: BTreeSet::new(),
        };
        archive.recover()?;
        Ok(archive)
    }

    /// Highest `seq` archived (0 for an empty archive).
    pub fn last_seq(&self) -> i64 {
        self.manifest.last_seq
    }

    fn recover(&mut self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.dir).context("listing the archive folder")? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("events-") && name.ends_with(".jsonl.gz")) {
                continue;
            }
            let path = self.dir.join(&name);
            let len = std::fs::metadata(&path)?.len();
            match self.manifest.files.get(&name).copied() {
                None => {
                    tracing::warn!(file = %name, "removing an archive file the manifest never committed");
                    std::fs::remove_file(&path)?;
                }
                Some(committed) if len > committed => {
                    tracing::warn!(file = %name, bytes = len - committed, "cutting a torn append");
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(committed)?;
                    file.sync_all()?;
                    self.touched.insert(name);
                }
                Some(committed) if len < committed => bail!(
                    "archive file {} is shorter ({len} bytes) than committed ({committed} bytes)",
                    path.display()
                ),
                Some(_) => {}
            }
        }
        for name in self.manifest.files.keys() {
            anyhow::ensure!(
                self.dir.join(name).exists(),
                "archive file {} named in the manifest is missing",
                self.dir.join(name).display()
            );
        }
        Ok(())
    }

    /// Appends the events not archived yet (`seq` above [`Archive::last_seq`]), in `seq`
    /// order, each to its day's file; fsyncs them, then commits the manifest. Returns how many
    /// were appended. When this returns `Ok`, every event of `events` is durably archived.
    pub fn append(&mut self, events: &[StoredEvent]) -> anyhow::Result<usize> {
        let fresh: Vec<&StoredEvent> = events
            .iter()
            .filter(|e| e.seq > self.manifest.last_seq)
            .collect();
        let Some(last) = fresh.iter().map(|e| e.seq).max() else {
            return Ok(0);
        };
        let mut by_day: BTreeMap<String, Vec<&StoredEvent>> = BTreeMap::new();
        for event in &fresh {
            by_day.entry(file_name(event)).or_default().push(event);
        }
        let mut next = self.manifest.clone();
        for (name, day) in by_day {
            let committed = next.files.get(&name).copied().unwrap_or(0);
            let len = self.append_member(&name, committed, &day)?;
            next.files.insert(name.clone(), len);
            self.touched.insert(name);
        }
        next.last_seq = last;
        write_atomically(
            &self.dir,
            MANIFEST,
            &serde_json::to_vec_pretty(&next).context("encoding the manifest")?,
        )?;
        self.manifest = next;
        Ok(fresh.len())
    }

    /// Writes one gzip member of `events` at `offset` of the file (its committed length) and
    /// fsyncs it; returns the file's new length.
    fn append_member(
        &self,
        name: &str,
        offset: u64,
        events: &[&StoredEvent],
    ) -> anyhow::Result<u64> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        for event in events {
            let line = serde_json::to_value(ArchivedEvent::from(*event))?.to_string();
            gz.write_all(line.as_bytes())?;
            gz.write_all(b"\n")?;
        }
        let member = gz.finish().context("compressing archived events")?;
        let path = self.dir.join(name);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Anything past the committed length is a torn append of this same process.
        file.set_len(offset)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        file.write_all(&member)
            .with_context(|| format!("appending to {}", path.display()))?;
        file.sync_all()
            .with_context(|| format!("fsyncing {}", path.display()))?;
        if created {
            sync_dir(&self.dir)?;
        }
        Ok(offset + member.len() as u64)
    }

    /// Rewrites the `.sha256` sidecar of every file appended to since the last call.
    pub fn seal(&mut self) -> anyhow::Result<()> {
        for name in std::mem::take(&mut self.touched) {
            let digest = sha256_file(&self.dir.join(&name))?;
            write_atomically(
                &self.dir,
                &format!("{name}.sha256"),
                format!("{digest}  {name}\n").as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Writes `name` in `dir` through a temporary file, fsync and rename: a reader sees the old
/// or the new content, never a mix.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
        .with_context(|| format!("renaming {} to {name}", tmp.display()))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsyncing the folder {}", dir.display()))
}

#[cfg(test)]
mod tests;

/// One line of an archive file: the event as the audit log (`GET /api/v1/events`) shows it.
/// Written here rather than borrowed from the HTTP layer so that the background task does not
/// depend on it; `tests/retention.rs` holds the two shapes equal.
#[derive(serde::Serialize)]
struct ArchivedEvent<'a> {
    seq: i64,
    id: &'a str,
    event_type: &'a str,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    store_id: Option<&'a str>,
    partition_key: &'a str,
    created_at: String,
    payload: serde_json::Value,
    synced_at: Option<String>,
    /// `synced_at` under its earlier name, as the audit log still shows it.
    published_at: Option<String>,
    attempts: i64,
    last_error: Option<&'a str>,
    dead_at: Option<String>,
}

impl<'a> From<&'a StoredEvent> for ArchivedEvent<'a> {
    fn from(e: &'a StoredEvent) -> Self {
        let synced_at = e.synced_at.as_ref().map(time::to_db);
        Self {
            seq: e.seq,
            id: &e.id,
            event_type: &e.event_type,
            aggregate_type: &e.aggregate_type,
            aggregate_id: &e.aggregate_id,
            store_id: e.store_id.as_deref(),
            partition_key: &e.partition_key,
            created_at: time::to_db(&e.created_at),
            payload: serde_json::from_str(e.payload.get()).unwrap_or(serde_json::Value::Null),
            published_at: synced_at.clone(),
            synced_at,
            attempts: e.attempts,
            last_error: e.last_error.as_deref(),
            dead_at: e.dead_at.as_ref().map(time::to_db),
        }
    }
}
