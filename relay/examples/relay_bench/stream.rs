//! Reading back what a relay wrote to a Redis stream under `bench/pipeline.sh`.
//!
//! - [`lag`] (`stream-lag STREAM`): commit→stream percentiles from the entries themselves: each
//!   entry's `created_at` to its Redis entry ID's millisecond clock (the moment Redis appended
//!   it). `created_at` is stamped before the COMMIT (how long before depends on the backend:
//!   `bench/pipeline.sh` says), so the figure is an upper bound of commit→stream.
//! - [`gaps`] (`stream-gaps STREAM KILL_MS`): the same stream after the leading relay was
//!   killed at `KILL_MS` (Unix milliseconds): the takeover, as the largest gap between
//!   consecutive entries' millisecond clocks around the kill; whether every event is there
//!   exactly once (entries vs unique event ids and seqs) and in `seq` order within each
//!   product; and the lag of all entries, of those appended before the kill, of those the
//!   takeover held back, and of those created after it. Fails (after printing) on a
//!   duplicate or an out-of-order entry.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};

/// How far after the kill a gap still counts as the takeover's.
const TAKEOVER_WINDOW_MS: i64 = 30_000;

/// One stream entry, as far as these checks read it.
struct Entry {
    /// The Redis entry ID's millisecond part: when Redis appended it.
    stream_ms: i64,
    /// The event's id (the `id` field).
    event_id: String,
    seq: i64,
    /// The broker key: the payload's `product_id`, else the aggregate id.
    product: String,
    created_ms: i64,
}

impl Entry {
    fn lag_ms(&self) -> i64 {
        self.stream_ms - self.created_ms
    }
}

/// Every entry of `stream`, in stream order (pages of 10,000).
async fn read_all(port: u16, stream: &str) -> anyhow::Result<Vec<Entry>> {
    let mut conn = super::redis(port).await?;
    let mut entries = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await?;
        let Some(last) = page.ids.last() else { break };
        start = format!("({}", last.id);
        for entry in &page.ids {
            let field = |name: &str| {
                entry
                    .get::<String>(name)
                    .with_context(|| format!("entry {} without {name}", entry.id))
            };
            let payload: serde_json::Value = serde_json::from_str(&field("payload")?)?;
            entries.push(Entry {
                stream_ms: entry
                    .id
                    .split('-')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .context("a stream entry ID without a millisecond part")?,
                event_id: field("id")?,
                seq: field("seq")?.parse()?,
                product: match payload.get("product_id").and_then(|p| p.as_str()) {
                    Some(product) => product.to_owned(),
                    None => field("aggregate_id")?,
                },
                created_ms: chrono::DateTime::parse_from_rfc3339(&field("created_at")?)?
                    .timestamp_millis(),
            });
        }
    }
    if entries.is_empty() {
        bail!("stream {stream} is empty");
    }
    Ok(entries)
}

/// "p50 .. ms, p99 .. ms, p99.9 .. ms, max .. ms" of `lags` (milliseconds).
fn percentiles(mut lags: Vec<i64>) -> String {
    if lags.is_empty() {
        return "none".to_owned();
    }
    lags.sort_unstable();
    let pct = |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)];
    format!(
        "p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        lags[lags.len() - 1]
    )
}

/// `stream-lag STREAM`: commit→stream percentiles over the whole stream.
pub async fn lag(port: u16, stream: &str) -> anyhow::Result<()> {
    let entries = read_all(port, stream).await?;
    let first = entries
        .iter()
        .map(|e| e.stream_ms)
        .min()
        .unwrap_or_default();
    let last = entries
        .iter()
        .map(|e| e.stream_ms)
        .max()
        .unwrap_or_default();
    println!(
        "stream {stream}: {} entries over {:.2} s; commit→stream from the entries (created_at → \
         entry ID, 1 ms clocks): {}",
        entries.len(),
        (last - first) as f64 / 1000.0,
        percentiles(entries.iter().map(Entry::lag_ms).collect())
    );
    Ok(())
}

/// `stream-gaps STREAM KILL_MS`: the takeover gap, exactly-once and order checks, and the lag
/// before, during and after the takeover.
pub async fn gaps(port: u16, stream: &str, kill_ms: i64) -> anyhow::Result<()> {
    let entries = read_all(port, stream).await?;
    let ids: HashSet<&str> = entries.iter().map(|e| e.event_id.as_str()).collect();
    let seqs: HashSet<i64> = entries.iter().map(|e| e.seq).collect();
    let mut newest: HashMap<&str, i64> = HashMap::new();
    let mut out_of_order = 0;
    for entry in &entries {
        let seen = newest.entry(entry.product.as_str()).or_insert(i64::MIN);
        if entry.seq < *seen {
            out_of_order += 1;
        }
        *seen = (*seen).max(entry.seq);
    }
    let duplicates = entries.len() - ids.len();
    println!(
        "stream {stream}: {} entries, {} unique event ids ({duplicates} duplicates), {} unique \
         seqs; {out_of_order} entries behind an earlier seq of their product ({} products)",
        entries.len(),
        ids.len(),
        seqs.len(),
        newest.len()
    );

    // The takeover's gap: the largest between consecutive entries where the later one was
    // appended after the kill and the earlier one within the window after it. The largest of
    // every other gap is the load's own rhythm, printed beside it for scale.
    let gaps: Vec<(i64, i64)> = entries
        .windows(2)
        .map(|pair| (pair[0].stream_ms, pair[1].stream_ms))
        .collect();
    let takeover = (0..gaps.len())
        .filter(|&i| gaps[i].1 > kill_ms && gaps[i].0 < kill_ms + TAKEOVER_WINDOW_MS)
        .max_by_key(|&i| gaps[i].1 - gaps[i].0)
        .context("no entry was appended after the kill: no relay took over")?;
    let (gap_from, gap_to) = gaps[takeover];
    let elsewhere = (0..gaps.len())
        .filter(|&i| i != takeover)
        .map(|i| gaps[i].1 - gaps[i].0)
        .max()
        .unwrap_or(0);
    println!(
        "takeover: largest gap between consecutive entries around the kill {} ms (from {:+} ms \
         to {:+} ms of the kill); largest other gap {elsewhere} ms",
        gap_to - gap_from,
        gap_from - kill_ms,
        gap_to - kill_ms
    );

    // Steady state on either side of the takeover, and the entries it held back: those
    // waiting in the outbox at the kill and those created before the new leader's first entry.
    let lags = |keep: &dyn Fn(&Entry) -> bool| -> (usize, String) {
        let lags: Vec<i64> = entries
            .iter()
            .filter(|e| keep(e))
            .map(Entry::lag_ms)
            .collect();
        (lags.len(), percentiles(lags))
    };
    for (label, (count, figures)) in [
        ("all entries", lags(&|_| true)),
        ("appended before the kill", lags(&|e| e.stream_ms < kill_ms)),
        (
            "held back by the takeover",
            lags(&|e| e.stream_ms >= kill_ms && e.created_ms < gap_to),
        ),
        (
            "created after the takeover",
            lags(&|e| e.created_ms >= gap_to),
        ),
    ] {
        println!("commit→stream, {label} ({count}): {figures}");
    }
    if duplicates > 0 || out_of_order > 0 {
        bail!("the stream has {duplicates} duplicates and {out_of_order} out-of-order entries");
    }
    Ok(())
}
