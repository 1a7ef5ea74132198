//! Anomaly detection over audit events: pure computation, no I/O.
//!
//! # Method
//!
//! 1. **Windows.** Events are grouped per tenant into windows aligned on multiples of
//!    [`AnomalyConfig::window`] (60 minutes by default, 5 minutes also works), one row per
//!    (actor, window) and one per (tenant, window) with at least one event.
//! 2. **Event facts** ([`facts`]), in time order: the action's class from its verb
//!    ([`action_class`]: read, write, security-sensitive); denied, and failed for changes (a
//!    failed lookup mostly means "not found"); values first used by the actor in this window
//!    although it had earlier windows (action, resource, IP, user agent: a brand-new actor has
//!    nothing to differ from and is compared with the population instead); values first seen
//!    by the whole tenant in this window (once it has 50 events of history); and the action's
//!    rarity (inverse frequency over the tenant's actor-windows, so a burst counts once).
//! 3. **Features** ([`features::FEATURES`]), all oriented so that more is more suspicious:
//!    counts per class, distinct actions / resources / IPs / user agents, failure and denial
//!    counts and ratios, first-seen counts, a new principal, rarity of the sensitive actions,
//!    activity outside the subject's usual hours (once it
//!    has three days of history), rate against the subject's usual volume, action rarity and,
//!    when an embedding per event seq is given, the mean cosine distance of the window's events
//!    from the actor's usual events (`content_distance`).
//! 4. **Robust statistics.** Each feature is compared with a reference: the subject's own past
//!    windows once it has [`AnomalyConfig::min_history_windows`] of them going back at least
//!    [`AnomalyConfig::min_history_span`] (a day), otherwise (cold start)
//!    all actor windows of the tenant. The excess is `(x − median) / (1.4826 · MAD)`, with a
//!    per-feature floor on the spread and only the upward side counted; a feature adds
//!    `weight · ln(1 + excess)` points, the weight being a prior on how much that kind of excess
//!    says about risk (denials and new origins more than volume).
//! 5. **Clustering** ([`clustering`]) on the weighted, capped excesses of all actor windows of a
//!    tenant: KMeans (linfa, seeded, so deterministic) distance to the nearest large cluster,
//!    scored as `ln(1 + robust excess)` over the windows, and one point for DBSCAN noise.
//! 6. **Score** = `c · (1 − exp(−points / 4))` in 0..1, where `c = n / (n + 3)` for a reference
//!    of `n` windows: a new tenant with few actors cannot raise a storm. A tenant row is only
//!    scored once the tenant has its own history. Severity follows the score
//!    ([`types::severity_for`]).
//!    While the tenant's log is younger than `min_history_span`, the bar for reporting rises
//!    towards [`AnomalyConfig::cold_start_min_score`], so a new tenant is told about strong
//!    incidents only.
//! 7. **Feedback** ([`KnownFeedback`]): a window whose subject and `reason` match a suppression
//!    that has not expired is never reported. A window marked false positive makes the actor
//!    windows of that tenant that look like it score lower: each is multiplied by
//!    `1 − w · similarity`, where the similarity to the false positive is
//!    `exp(−mean squared difference)` in the clustering space and `w` is
//!    [`AnomalyConfig::false_positive_weight`]. The flagged window must be among the input
//!    events (callers load it with the history).
//! 8. **Explanation** ([`explain`]): the top features with observed and expected values, the
//!    events behind them (most telling first), a narrative built from those facts only, and a
//!    stable reason key `<kind>:<id>:<reason>` where the reason groups the top feature
//!    (`denials`, `new_ip`, `rare_action`, ...).

pub mod action_class;
pub mod clustering;
pub mod explain;
pub mod facts;
pub mod features;
pub mod robust;
pub mod scoring;
pub mod types;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use veritrail_core::anomalies::{NewAnomaly, SubjectKind};
use veritrail_core::event::{StoredEvent, TenantId};

pub use features::{FeatureTable, feature_table};
pub use types::{AnomalyConfig, Detected, KnownFeedback, WindowKey, WindowScore, severity_for};

/// An event's own score: its window's score, weighted by how much the event stands behind the
/// window's top features (denied, first-seen, rare, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventScore {
    pub tenant: TenantId,
    pub seq: u64,
    pub id: String,
    pub score: f64,
}

/// Everything the detector computed over some events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub table: FeatureTable,
    /// One score per row of `table`, same order.
    pub windows: Vec<WindowScore>,
    /// One score per event.
    pub events: Vec<EventScore>,
}

/// Share of an event's score that comes from its window alone; the rest follows its weight.
const EVENT_WINDOW_SHARE: f64 = 0.3;

/// Scores every window and every event of `events` (no range, no `min_score` filter).
pub fn analyse(
    events: &[StoredEvent],
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
    feedback: KnownFeedback<'_>,
) -> Analysis {
    let tenants = features::tenant_windows(events, config, embeddings);
    let mut names: Vec<String> = features::FEATURES.iter().map(|spec| spec.name.to_owned()).collect();
    if embeddings.is_some() {
        names.push(features::CONTENT_DISTANCE.name.to_owned());
    }
    let mut analysis = Analysis {
        table: FeatureTable { rows: Vec::new(), names, values: Vec::new() },
        windows: Vec::new(),
        events: Vec::new(),
    };
    for tenant in &tenants {
        let scores = scoring::score_tenant(tenant, config, feedback);
        for (row, score) in tenant.rows.iter().zip(&scores) {
            let window_end = row.key.window_start + config.window;
            analysis.table.rows.push(row.key.clone());
            analysis.table.values.push(row.values.clone());
            analysis.windows.push(scoring::window_score(row, score, &tenant.specs, config, window_end));
            if row.key.subject.kind != SubjectKind::Actor {
                continue;
            }
            let weights = explain::event_weights(row, &tenant.facts, score);
            let top = weights.iter().copied().fold(0.0, f64::max);
            for (&index, weight) in row.events.iter().zip(weights) {
                let event = tenant.events[index];
                let share = if top > 0.0 { weight / top } else { 0.0 };
                analysis.events.push(EventScore {
                    tenant: event.tenant.clone(),
                    seq: event.seq,
                    id: event.id.clone(),
                    score: score.score * (EVENT_WINDOW_SHARE + (1.0 - EVENT_WINDOW_SHARE) * share),
                });
            }
        }
    }
    analysis
}

/// Detects the anomalies of the windows overlapping `window_range` (start inclusive, end
/// exclusive). `events` holds the history before the range as well as the range itself;
/// events older than `range.0 − config.history` are ignored. Results are sorted by score,
/// highest first, and only windows scoring at least `config.min_score` and not suppressed are
/// reported.
pub fn detect(
    events: &[StoredEvent],
    window_range: (DateTime<Utc>, DateTime<Utc>),
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
    feedback: KnownFeedback<'_>,
) -> Vec<Detected> {
    let (start, end) = window_range;
    let oldest = start - config.history;
    let kept: Vec<StoredEvent> =
        events.iter().filter(|event| event.occurred_at >= oldest && event.occurred_at < end).cloned().collect();
    let tenants = features::tenant_windows(&kept, config, embeddings);
    let mut anomalies = Vec::new();
    for tenant in &tenants {
        let scores = scoring::score_tenant(tenant, config, feedback);
        let first_event = tenant.events.first().map(|event| event.occurred_at);
        for (row, score) in tenant.rows.iter().zip(&scores) {
            let window_end = row.key.window_start + config.window;
            let in_range = window_end > start && row.key.window_start < end;
            let bar = reporting_bar(config, first_event, window_end);
            if !in_range || score.suppressed || score.score < bar {
                continue;
            }
            anomalies.push(anomaly(tenant, row, score, config, window_end));
        }
    }
    anomalies.sort_by(|left, right| {
        let (found_left, found_right) = (&left.anomaly, &right.anomaly);
        found_right.score.total_cmp(&found_left.score).then_with(|| {
            (&left.tenant, found_left.window_start, &found_left.subject).cmp(&(
                &right.tenant,
                found_right.window_start,
                &found_right.subject,
            ))
        })
    });
    anomalies
}

/// The score a window needs to be reported: `min_score` once the tenant's log covers
/// `min_history_span`, higher before (see [`AnomalyConfig::cold_start_min_score`]).
fn reporting_bar(config: &AnomalyConfig, first_event: Option<DateTime<Utc>>, window_end: DateTime<Utc>) -> f64 {
    let span = first_event.map_or(0.0, |first| (window_end - first).num_seconds() as f64);
    let needed = config.min_history_span.num_seconds().max(1) as f64;
    let maturity = (span / needed).clamp(0.0, 1.0);
    let cold = config.cold_start_min_score.max(config.min_score);
    cold - maturity * (cold - config.min_score)
}

fn anomaly(
    tenant: &features::TenantWindows<'_>,
    row: &features::Row,
    score: &scoring::RowScore,
    config: &AnomalyConfig,
    window_end: DateTime<Utc>,
) -> Detected {
    let top = config.top_features.max(1);
    let evidence = explain::evidence(row, &tenant.facts, score, top, config.max_evidence);
    let top_parts = &score.parts[..score.parts.len().min(top)];
    let narrative =
        explain::narrative(row, &tenant.events, &tenant.facts, top_parts, &tenant.specs, &evidence, config.window);
    let anomaly = NewAnomaly {
        subject: row.key.subject.clone(),
        window_start: row.key.window_start,
        window_end,
        reason: score.reason.clone(),
        // Stores refuse scores outside 0..1 (`NewAnomaly::check`).
        score: score.score.clamp(0.0, 1.0),
        severity: severity_for(score.score),
        detectors: scoring::detectors(score),
        features: scoring::contributions(score, &tenant.specs, top),
        narrative,
        event_ids: evidence.iter().map(|&position| tenant.events[row.events[position]].id.clone()).collect(),
    };
    Detected { tenant: tenant.tenant.clone(), anomaly }
}
