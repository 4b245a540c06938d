//! The archive's file format and its crash recovery, on a temporary folder.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::*;

fn event(seq: i64, created_at: &str) -> StoredEvent {
    StoredEvent {
        seq,
        id: format!("0190a0b0-0000-7000-8000-{seq:012}"),
        event_type: "stock.updated".to_owned(),
        aggregate_type: "stock".to_owned(),
        aggregate_id: "p-1".to_owned(),
        store_id: Some("MAD-001".to_owned()),
        partition_key: "p-1".to_owned(),
        payload: RawValue::from_string(format!(r#"{{"quantity":{seq}}}"#)).expect("json"),
        created_at: inventory_shared::time::from_db(created_at).expect("instant"),
        synced_at: inventory_shared::time::from_db(created_at).ok(),
        attempts: 0,
        last_error: None,
        dead_at: None,
    }
}

/// Every line of a day file, parsed.
fn lines(dir: &Path, name: &str) -> Vec<Value> {
    let mut text = String::new();
    MultiGzDecoder::new(File::open(dir.join(name)).expect("day file"))
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

fn seqs(values: &[Value]) -> Vec<i64> {
    values
        .iter()
        .map(|v| v["seq"].as_i64().expect("seq"))
        .collect()
}

#[test]
fn events_round_trip_one_file_per_day_with_a_checksum() {
    let dir = tempfile::tempdir().expect("dir");
    let mut archive = Archive::open(dir.path()).expect("open");
    let first = [
        event(1, "2026-12-01T23:59:59.000000Z"),
        event(2, "2026-12-02T00:00:00.000000Z"),
    ];
    assert_eq!(archive.append(&first).expect("append"), 2);
    assert_eq!(
        archive
            .append(&[event(3, "2026-12-02T10:00:00.000000Z")])
            .expect("append"),
        1
    );
    archive.seal().expect("seal");

    assert_eq!(seqs(&lines(dir.path(), "events-2026-12-01.jsonl.gz")), [1]);
    let day2 = lines(dir.path(), "events-2026-12-02.jsonl.gz");
    assert_eq!(seqs(&day2), [2, 3], "two appends read as one stream");
    assert_eq!(
        day2[0],
        json!({
            "seq": 2, "id": "0190a0b0-0000-7000-8000-000000000002",
            "event_type": "stock.updated", "aggregate_type": "stock", "aggregate_id": "p-1",
            "store_id": "MAD-001", "partition_key": "p-1",
            "created_at": first[1].created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "payload": {"quantity": 2},
            "synced_at": first[1].created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "published_at": first[1].created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "attempts": 0, "last_error": null, "dead_at": null,
        }),
        "a line is the audit log's JSON for the event (tests/retention.rs compares it with \
         GET /events itself)"
    );
    assert_eq!(day2[0]["payload"], json!({"quantity": 2}));
    for name in ["events-2026-12-01.jsonl.gz", "events-2026-12-02.jsonl.gz"] {
        let sidecar =
            std::fs::read_to_string(dir.path().join(format!("{name}.sha256"))).expect("sidecar");
        let digest = sha256_file(&dir.path().join(name)).expect("digest");
        assert_eq!(sidecar, format!("{digest}  {name}\n"));
    }
    assert_eq!(archive.last_seq(), 3);
}

#[test]
fn events_already_archived_are_not_appended_again() {
    let dir = tempfile::tempdir().expect("dir");
    let mut archive = Archive::open(dir.path()).expect("open");
    let batch = [
        event(5, "2026-12-02T00:00:00.000000Z"),
        event(6, "2026-12-02T00:00:01.000000Z"),
    ];
    archive.append(&batch).expect("append");
    // A crash after the manifest but before the delete: the next pass offers the same rows.
    drop(archive);
    let mut reopened = Archive::open(dir.path()).expect("reopen");
    let again = [
        batch[0].clone(),
        batch[1].clone(),
        event(7, "2026-12-02T00:00:02.000000Z"),
    ];
    assert_eq!(reopened.append(&again).expect("append"), 1);
    assert_eq!(
        seqs(&lines(dir.path(), "events-2026-12-02.jsonl.gz")),
        [5, 6, 7]
    );
}

#[test]
fn a_torn_append_is_cut_off_when_the_archive_opens() {
    let dir = tempfile::tempdir().expect("dir");
    let mut archive = Archive::open(dir.path()).expect("open");
    archive
        .append(&[event(1, "2026-12-02T00:00:00.000000Z")])
        .expect("append");
    archive.seal().expect("seal");
    drop(archive);
    // A crash in the middle of the next append: half a gzip member, manifest unchanged, and a
    // file of a new day the manifest never named.
    let name = "events-2026-12-02.jsonl.gz";
    let committed = std::fs::metadata(dir.path().join(name))
        .expect("file")
        .len();
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join(name))
        .expect("file");
    file.write_all(&[0x1f, 0x8b, 8, 0, 0, 0])
        .expect("torn bytes");
    std::fs::write(dir.path().join("events-2026-12-03.jsonl.gz"), b"\x1f\x8b").expect("stray");

    let mut reopened = Archive::open(dir.path()).expect("reopen");

    assert_eq!(
        std::fs::metadata(dir.path().join(name))
            .expect("file")
            .len(),
        committed
    );
    assert!(!dir.path().join("events-2026-12-03.jsonl.gz").exists());
    reopened
        .append(&[
            event(2, "2026-12-02T00:00:01.000000Z"),
            event(3, "2026-12-03T00:00:00.000000Z"),
        ])
        .expect("append");
    reopened.seal().expect("seal");
    assert_eq!(seqs(&lines(dir.path(), name)), [1, 2]);
    assert_eq!(seqs(&lines(dir.path(), "events-2026-12-03.jsonl.gz")), [3]);
    let sidecar = std::fs::read_to_string(dir.path().join(format!("{name}.sha256"))).expect("sc");
    assert!(sidecar.starts_with(&sha256_file(&dir.path().join(name)).expect("digest")));
}

#[test]
fn a_file_shorter_than_committed_stops_the_open() {
    let dir = tempfile::tempdir().expect("dir");
    let mut archive = Archive::open(dir.path()).expect("open");
    archive
        .append(&[event(1, "2026-12-02T00:00:00.000000Z")])
        .expect("append");
    drop(archive);
    let path = dir.path().join("events-2026-12-02.jsonl.gz");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(3))
        .expect("truncate");

    let err = Archive::open(dir.path()).expect_err("data lost");

    assert!(err.to_string().contains("shorter"), "{err:#}");
}
