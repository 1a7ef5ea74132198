//! What a report is made from, read from the storage ports: the signed checkpoint it is built
//! against, the selected events (all below that checkpoint's tree size), the anomalies, the
//! checkpoints and verification of the period; and the numbers computed from them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use veritrail_core::anomalies::{AnomalyQuery, AnomalyStore, StoredAnomaly};
use veritrail_core::event::{Outcome, StoredEvent, TenantId};
use veritrail_core::reports::{ReportKind, StoredReport};
use veritrail_core::store::{CheckpointStore, EventLog, EventQuery, StoredCheckpoint};
use veritrail_core::transparency::{LogIdentity, publish_checkpoint};
use veritrail_core::verify::VerifyReport;

use crate::export::EventFilter;

/// The most events one report holds; larger selections are refused with a clear error.
pub const MAX_REPORT_EVENTS: usize = 200_000;
/// Events of one anomaly shown in an anomalies report.
const EVENTS_PER_ANOMALY: usize = 25;

/// Counts of the selected events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers {
    pub total: u64,
    /// Per UTC day (`YYYY-MM-DD`), in order: (success, failure, denied, unknown).
    pub per_day: BTreeMap<String, [u64; 4]>,
    pub top_actors: Vec<(String, u64)>,
    pub top_actions: Vec<(String, u64)>,
    /// (success, failure, denied, unknown)
    pub outcomes: [u64; 4],
    pub actors: usize,
    pub actions: usize,
}

fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Denied => 2,
        Outcome::Unknown => 3,
    }
}

fn top(counts: HashMap<&str, u64>, n: usize) -> Vec<(String, u64)> {
    let mut sorted: Vec<(String, u64)> = counts.into_iter().map(|(name, count)| (name.to_owned(), count)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

impl Numbers {
    /// The numbers of `events`, with every day of `[since, until)` present (up to 400 days).
    pub fn of(events: &[StoredEvent], since: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        let mut per_day = BTreeMap::new();
        let mut day = since.date_naive();
        while day < until.date_naive() || (day == until.date_naive() && until.time() > chrono::NaiveTime::MIN) {
            per_day.insert(day.format("%Y-%m-%d").to_string(), [0u64; 4]);
            match day.succ_opt() {
                Some(next) if per_day.len() < 400 => day = next,
                _ => break,
            }
        }
        let mut actors: HashMap<&str, u64> = HashMap::new();
        let mut actions: HashMap<&str, u64> = HashMap::new();
        let mut outcomes = [0u64; 4];
        for event in events {
            let index = outcome_index(event.outcome);
            outcomes[index] += 1;
            per_day.entry(event.occurred_at.format("%Y-%m-%d").to_string()).or_insert([0; 4])[index] += 1;
            *actors.entry(event.actor.id.as_str()).or_default() += 1;
            *actions.entry(event.action.as_str()).or_default() += 1;
        }
        Self {
            total: events.len() as u64,
            per_day,
            actors: actors.len(),
            actions: actions.len(),
            top_actors: top(actors, 10),
            top_actions: top(actions, 10),
            outcomes,
        }
    }
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub report: StoredReport,
    pub filter: EventFilter,
    pub generated_at: DateTime<Utc>,
    /// The signed checkpoint the report is built against; `None` when the log is empty.
    pub checkpoint: Option<StoredCheckpoint>,
    /// The log's checkpoint origin (`<key name>/<tenant>`) and verifier key.
    pub origin: String,
    pub log_key: String,
    /// The selected events, oldest first.
    pub events: Vec<StoredEvent>,
    pub numbers: Numbers,
    pub anomalies: Vec<StoredAnomaly>,
    /// Events of the anomalies, by id (anomalies reports).
    pub anomaly_events: HashMap<String, StoredEvent>,
    /// Checkpoints published in the period (integrity reports).
    pub checkpoints: Vec<StoredCheckpoint>,
    /// The chain verified up to the checkpoint (integrity reports).
    pub verification: Option<VerifyReport>,
    /// The summary paragraph and who wrote it (`extractive` or the chat model's id).
    pub summary: String,
    pub summary_by: String,
}

impl ReportData {
    pub fn tenant(&self) -> &TenantId {
        &self.report.tenant
    }

    /// The events the evidence bundle proves: the anomalies' events for an anomalies report,
    /// the selected events otherwise; oldest first.
    pub fn evidence_events(&self) -> Vec<StoredEvent> {
        if self.report.spec.kind == ReportKind::Anomalies {
            let mut events: Vec<StoredEvent> = self.anomaly_events.values().cloned().collect();
            events.sort_by_key(|event| event.seq);
            events
        } else {
            self.events.clone()
        }
    }
}

/// The ports a report reads.
#[derive(Clone)]
pub struct Sources<'a> {
    pub events: &'a dyn EventLog,
    pub checkpoints: &'a dyn CheckpointStore,
    pub anomalies: &'a dyn AnomalyStore,
    pub log: &'a LogIdentity,
}

/// Why the data of a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] veritrail_core::store::StoreError),
    #[error(transparent)]
    Publish(#[from] veritrail_core::transparency::PublishError),
    #[error("{0}")]
    Invalid(String),
}

/// Reads everything `report` needs, publishing a checkpoint first so the newest events of the
/// period are covered by it.
pub async fn gather(sources: &Sources<'_>, report: &StoredReport, now: DateTime<Utc>) -> Result<ReportData, DataError> {
    let tenant = &report.tenant;
    let spec = &report.spec;
    let mut filter: EventFilter = serde_json::from_value(spec.filter.clone())
        .map_err(|err| DataError::Invalid(format!("the stored filter does not parse: {err}")))?;
    if spec.kind == ReportKind::Subject {
        filter.actor = spec.subject.clone();
    }
    publish_checkpoint(sources.events, sources.checkpoints, sources.log, tenant, now).await?;
    let checkpoint = sources.checkpoints.latest_checkpoint(tenant).await?;
    let tree_size = checkpoint.as_ref().map_or(0, |checkpoint| checkpoint.tree_size);

    let mut events = Vec::new();
    if spec.kind != ReportKind::Anomalies && tree_size > 0 {
        let mut query = EventQuery { limit: 2_000, ..filter.query(Some(spec.since), Some(spec.until)) };
        loop {
            let page = events_page(sources.events, tenant, &query).await?;
            let full = page.len() == query.limit as usize;
            query.after_seq = page.last().map(|event| event.seq).or(query.after_seq);
            events.extend(page.into_iter().filter(|event| event.seq < tree_size));
            if events.len() > MAX_REPORT_EVENTS {
                return Err(DataError::TooLarge(format!(
                    "the selection holds more than {MAX_REPORT_EVENTS} events: narrow the period or the filter"
                )));
            }
            if !full || query.after_seq.is_some_and(|seq| seq + 1 >= tree_size) {
                break;
            }
        }
    }
    let numbers = Numbers::of(&events, spec.since, spec.until);

    let mut anomalies = Vec::new();
    if spec.kind != ReportKind::Integrity {
        let mut query =
            AnomalyQuery { since: Some(spec.since), until: Some(spec.until), limit: 500, ..Default::default() };
        loop {
            let page = sources.anomalies.list_anomalies(tenant, &query).await?;
            let full = page.len() == query.limit as usize;
            query.before = page.last().map(StoredAnomaly::cursor);
            anomalies.extend(page);
            if !full || anomalies.len() >= 2_000 {
                break;
            }
        }
        if let (ReportKind::Subject, Some(subject)) = (spec.kind, &spec.subject) {
            anomalies.retain(|anomaly| &anomaly.subject.id == subject);
        }
        anomalies.sort_by(|a, b| a.window_start.cmp(&b.window_start).then_with(|| a.id.cmp(&b.id)));
    }
    let mut anomaly_events = HashMap::new();
    if spec.kind == ReportKind::Anomalies {
        for anomaly in &anomalies {
            for id in anomaly.event_ids.iter().take(EVENTS_PER_ANOMALY) {
                if anomaly_events.contains_key(id) {
                    continue;
                }
                if let Some(event) = sources.events.get(tenant, id).await?.filter(|event| event.seq < tree_size) {
                    anomaly_events.insert(id.clone(), event);
                }
            }
        }
    }

    let (mut checkpoints, mut verification) = (Vec::new(), None);
    if spec.kind == ReportKind::Integrity {
        let mut after = 0;
        loop {
            let page = sources.checkpoints.checkpoints_after(tenant, after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.tree_size;
            let full = page.len() == 500;
            checkpoints.extend(
                page.into_iter()
                    .filter(|checkpoint| checkpoint.created_at >= spec.since && checkpoint.created_at < spec.until),
            );
            if !full {
                break;
            }
        }
        if tree_size > 0 {
            let range = veritrail_core::store::SeqRange { from_seq: None, to_seq: Some(tree_size - 1) };
            verification = Some(sources.events.verify(tenant, range).await?);
        }
    }
    Ok(ReportData {
        report: report.clone(),
        filter,
        generated_at: now,
        checkpoint,
        origin: sources.log.origin(tenant),
        log_key: sources.log.signer.verifier_key(),
        events,
        numbers,
        anomalies,
        anomaly_events,
        checkpoints,
        verification,
        summary: String::new(),
        summary_by: String::new(),
    })
}

async fn events_page(
    events: &dyn EventLog,
    tenant: &TenantId,
    query: &EventQuery,
) -> Result<Vec<StoredEvent>, veritrail_core::store::StoreError> {
    events.list(tenant, query).await
}
