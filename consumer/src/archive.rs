//! Reading the API's events archive (`EVENTS_ARCHIVE_DIR`; format in `docs/operations.md`,
//! "Archive") for `inventory-consumer rebuild --archive DIR`: the day files in date order,
//! each checked against its `.sha256` sidecar, their lines (audit-log JSON, one event a
//! line) parsed in file order, which is `seq` order.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::event::Incoming;

/// The archive's day files (`events-YYYY-MM-DD.jsonl.gz`), oldest day first.
pub fn day_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("listing the archive {}", dir.display()))?
    {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("events-") && name.ends_with(".jsonl.gz") {
            files.push(path);
        }
    }
    // The date is fixed-width, so name order is day order.
    files.sort();
    Ok(files)
}

/// Checks a day file against its `.sha256` sidecar. A missing sidecar is only logged (the
/// API writes it at the end of the pass that appended).
pub fn verify(path: &Path) -> anyhow::Result<()> {
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(".sha256");
    let expected = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text.split_whitespace().next().unwrap_or("").to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %path.display(), "archive file has no .sha256 sidecar; not checked");
            return Ok(());
        }
        Err(e) => return Err(e).context("reading a .sha256 sidecar"),
    };
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
    let actual = format!("{:x}", hasher.finalize());
    anyhow::ensure!(
        actual == expected,
        "{} does not match its .sha256 sidecar (sha256 {actual}, sidecar {expected})",
        path.display()
    );
    Ok(())
}

/// Reads every event of the archive on a blocking thread and sends them in batches of
/// `batch`, in order; a bad file or line is sent as the last item.
pub fn stream(dir: &Path, batch: usize) -> mpsc::Receiver<anyhow::Result<Vec<Incoming>>> {
    let (tx, rx) = mpsc::channel(4);
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = send_all(&dir, batch.max(1), &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn send_all(
    dir: &Path,
    batch: usize,
    tx: &mpsc::Sender<anyhow::Result<Vec<Incoming>>>,
) -> anyhow::Result<()> {
    for path in day_files(dir)? {
        verify(&path)?;
        let reader = BufReader::new(MultiGzDecoder::new(
            File::open(&path).with_context(|| format!("opening {}", path.display()))?,
        ));
        let mut events = Vec::with_capacity(batch);
        for (n, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            let event = Incoming::from_json(line.as_bytes())
                .with_context(|| format!("{} line {}", path.display(), n + 1))?;
            events.push(event);
            if events.len() == batch {
                let full = std::mem::replace(&mut events, Vec::with_capacity(batch));
                if tx.blocking_send(Ok(full)).is_err() {
                    return Ok(());
                }
            }
        }
        if !events.is_empty() && tx.blocking_send(Ok(events)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
