//! The work of the `anomaly-detection` job: score every complete window that is new since the
//! last run, per tenant, and store what is unusual.
//!
//! Windows are processed in order from the tenant's detection cursor (the end of the last
//! window done; on the first run, the window of its first event), at most
//! [`MAX_WINDOWS_PER_RUN`] per run, so a tenant with a long backlog catches up over a few runs
//! without holding everything in memory. The window that is still open is left for a later run.
//! Events of the configured history before the windows are loaded with them: each actor is
//! compared with its own past (or, while it has too little, with the population).
//!
//! Feedback flows back in: suppressions in force and windows marked false positive are passed to
//! the detector, so the same subject and reason is not reported again while suppressed and
//! similar windows score lower.

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use veritrail_core::anomalies::NewAnomaly;
use veritrail_core::event::{StoredEvent, TenantId};
use veritrail_core::store::EventQuery;
use veritrail_models::anomaly::{self, AnomalyConfig, KnownFeedback};
use veritrail_store::Store;

/// Most windows scored per tenant in one run.
pub const MAX_WINDOWS_PER_RUN: i64 = 48;
/// Most events loaded for one run (history and windows).
const MAX_EVENTS: u32 = 500_000;

/// What one tenant's run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantDetection {
    #[serde(with = "veritrail_core::event::timestamp::option")]
    pub from: Option<DateTime<Utc>>,
    #[serde(with = "veritrail_core::event::timestamp::option")]
    pub to: Option<DateTime<Utc>>,
    pub events: usize,
    pub anomalies: usize,
    pub new_anomalies: usize,
    /// Ids of the anomalies this run stored for the first time.
    pub new_ids: Vec<String>,
}

/// Scores the tenant's complete windows since its detection cursor.
pub async fn detect_tenant(
    store: &Store,
    tenant: &TenantId,
    config: &AnomalyConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<TenantDetection> {
    let window = config.window;
    let start = match store.anomalies.detection_cursor(tenant).await? {
        Some(cursor) => cursor,
        None => match store.events.scan(tenant, 0, 1).await?.first() {
            Some(first) => first.occurred_at.duration_trunc(window)?,
            None => return Ok(TenantDetection::default()),
        },
    };
    let open_window = now.duration_trunc(window)?;
    let end = open_window.min(start + window * MAX_WINDOWS_PER_RUN as i32);
    if end <= start {
        return Ok(TenantDetection::default());
    }

    let events = load_events(store, tenant, start - config.history, end).await?;
    let suppressions = store.anomalies.active_suppressions(tenant, now).await?;
    // A known false positive whose suppression has ended still teaches the detector what
    // harmless looks like.
    let false_positives = store.anomalies.false_positive_windows(tenant, start - config.history).await?;
    let feedback = KnownFeedback { suppressions: &suppressions, false_positives: &false_positives };
    let found = anomaly::detect(&events, (start, end), config, None, feedback);
    let new: Vec<NewAnomaly> = found.into_iter().map(|detected| detected.anomaly).collect();
    let saved = store.anomalies.save_anomalies(tenant, &new, now).await?;
    store.anomalies.set_detection_cursor(tenant, end).await?;

    let new_ids: Vec<String> =
        saved.iter().filter(|saved| saved.created).map(|saved| saved.anomaly.id.clone()).collect();
    for saved in saved.iter().filter(|saved| saved.created) {
        tracing::warn!(
            job = "anomaly-detection",
            tenant = %tenant,
            subject = %saved.anomaly.subject.id,
            score = saved.anomaly.score,
            severity = %saved.anomaly.severity,
            "{}",
            saved.anomaly.narrative
        );
    }
    Ok(TenantDetection {
        from: Some(start),
        to: Some(end),
        events: events.len(),
        anomalies: saved.len(),
        new_anomalies: new_ids.len(),
        new_ids,
    })
}

/// The tenant's events with `occurred_at` in `[since, until)`, oldest first.
async fn load_events(
    store: &Store,
    tenant: &TenantId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<Vec<StoredEvent>> {
    let mut events = store
        .events
        .list(tenant, &EventQuery { since: Some(since), until: Some(until), limit: MAX_EVENTS, ..Default::default() })
        .await?;
    if events.len() as u32 == MAX_EVENTS {
        tracing::warn!(tenant = %tenant, "anomaly detection read only the newest {MAX_EVENTS} events of its history");
    }
    events.reverse();
    Ok(events)
}
