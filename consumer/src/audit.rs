//! The API's audit log (`GET /api/v1/events?after_seq=`): the source of truth a consumer
//! catches up from after a gap, and rebuilds from.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::ApiSettings;
use crate::event::Incoming;
use crate::metrics::Metrics;
use crate::projection::{BatchOutcome, Projection, Via};

/// A client of the audit-log routes.
#[derive(Debug, Clone)]
pub struct AuditLog {
    client: reqwest::Client,
    base: String,
    key: String,
    page: i64,
}

/// One page of the audit log.
#[derive(Debug)]
pub struct Page {
    /// Events, in `seq` order.
    pub events: Vec<Incoming>,
    /// Cursor of the next page; `None` on the last one.
    pub next_after_seq: Option<i64>,
}

impl AuditLog {
    /// A client for the API the settings name.
    pub fn new(settings: &ApiSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            base: settings.inventory_api_url.trim_end_matches('/').to_owned(),
            key: settings.inventory_api_key.clone(),
            page: settings.consumer_catchup_page,
        })
    }

    /// The events after `after_seq`, one page.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn page(&self, after_seq: i64) -> anyhow::Result<Page> {
        #[derive(Deserialize)]
        struct Wire {
            events: Vec<Box<RawValue>>,
            next_after_seq: Option<i64>,
        }
        let url = format!("{}/api/v1/events", self.base);
        let response = self
            .client
            .get(&url)
            .query(&[("after_seq", after_seq), ("limit", self.page)])
            .header("X-API-Key", &self.key)
            .send()
            .await
            .with_context(|| format!("reading the audit log at {url}"))?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "the audit log at {url} answered {status}"
        );
        let wire: Wire = response.json().await.context("reading an audit-log page")?;
        let events = wire
            .events
            .iter()
            .map(|raw| Incoming::from_json(raw.get().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .context("an audit-log event does not parse")?;
        Ok(Page {
            events,
            next_after_seq: wire.next_after_seq,
        })
    }

    /// How many events the audit log holds (`/events/stats`), for progress bars.
    pub async fn total(&self) -> anyhow::Result<i64> {
        #[derive(Deserialize)]
        struct Stats {
            total: i64,
        }
        let url = format!("{}/api/v1/events/stats", self.base);
        let stats: Stats = self
            .client
            .get(&url)
            .header("X-API-Key", &self.key)
            .send()
            .await
            .with_context(|| format!("reading {url}"))?
            .error_for_status()?
            .json()
            .await?;
        Ok(stats.total)
    }
}

/// The projection, shared between the pipeline and catch-up; used from blocking tasks.
pub type SharedProjection = Arc<Mutex<Projection>>;

/// Applies `events` on a blocking thread.
pub async fn apply(
    projection: &SharedProjection,
    events: Vec<Incoming>,
    via: Via,
) -> anyhow::Result<BatchOutcome> {
    let projection = projection.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = projection
            .lock()
            .map_err(|_| anyhow::anyhow!("projection lock poisoned"))?;
        guard.apply_batch(&events, via).context("applying a batch")
    })
    .await
    .context("apply task")?
}

/// `seq` of the last event applied to a row (0 for a row never seen).
pub async fn row_last_seq(
    projection: &SharedProjection,
    product_id: &str,
    store_id: &str,
) -> anyhow::Result<i64> {
    let projection = projection.clone();
    let (p, s) = (product_id.to_owned(), store_id.to_owned());
    tokio::task::spawn_blocking(move || {
        let guard = projection
            .lock()
            .map_err(|_| anyhow::anyhow!("projection lock poisoned"))?;
        Ok(guard.row_last_seq(&p, &s)?.unwrap_or(0))
    })
    .await
    .context("read task")?
}

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchUp {
    /// Events read from the audit log.
    pub read: u64,
    /// Of those, applied (the others were already reflected).
    pub applied: u64,
}

/// Most times one catch-up goes back for a row missing events before its cursor.
const MAX_RESTARTS: u32 = 1000;

/// Reads the audit log from `after_seq` to its end and applies every event (those already
/// reflected are skipped by the version and inbox rules). A row met with missing versions
/// (its previous events lie before `after_seq`) sends the cursor back to that row's last
/// applied `seq`; the same event revealing a gap twice means the log itself lacks events,
/// which is an error. `on_page` sees each page's event count (progress bars).
pub async fn catch_up(
    projection: &SharedProjection,
    audit: &AuditLog,
    metrics: &Metrics,
    after_seq: i64,
    mut on_page: impl FnMut(u64),
) -> anyhow::Result<CatchUp> {
    let mut done = CatchUp::default();
    let mut restarts = 0;
    let mut last_gap: Option<i64> = None;
    // The next page is fetched while the current one is applied.
    let mut next = Some(tokio::spawn(fetch(audit.clone(), after_seq)));
    while let Some(fetching) = next.take() {
        let page = fetching.await.context("audit-log fetch task")??;
        if page.events.is_empty() {
            break;
        }
        if let Some(after) = page.next_after_seq {
            next = Some(tokio::spawn(fetch(audit.clone(), after)));
        }
        let count = page.events.len() as u64;
        let outcome = apply(projection, page.events, Via::AuditLog).await?;
        for event_type in &outcome.applied {
            metrics.applied(*event_type);
        }
        done.applied += outcome.applied.len() as u64;
        if let Some(gap) = outcome.gap {
            anyhow::ensure!(
                last_gap != Some(gap.seq) && restarts < MAX_RESTARTS,
                "the audit log lacks events of ({}, {}) between version {} and {} (seq {})",
                gap.product_id,
                gap.store_id,
                gap.have,
                gap.got,
                gap.seq
            );
            last_gap = Some(gap.seq);
            restarts += 1;
            let cursor = row_last_seq(projection, &gap.product_id, &gap.store_id).await?;
            tracing::info!(
                product.id = %gap.product_id,
                store.id = %gap.store_id,
                from_seq = cursor,
                "row behind the catch-up cursor; reading the audit log again from its last seq"
            );
            if let Some(prefetch) = next.take() {
                prefetch.abort();
            }
            next = Some(tokio::spawn(fetch(audit.clone(), cursor)));
            continue;
        }
        done.read += count;
        metrics.catchup.increment(count);
        on_page(count);
    }
    Ok(done)
}

async fn fetch(audit: AuditLog, after_seq: i64) -> anyhow::Result<Page> {
    audit.page(after_seq).await
}
