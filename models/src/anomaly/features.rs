//! Window features: one row per (actor, window) and per (tenant, window), in natural units
//! (counts, ratios), every feature oriented so that a higher value is more suspicious.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use veritrail_core::anomalies::{Subject, SubjectKind};
use veritrail_core::event::{StoredEvent, TenantId};

use super::action_class::ActionClass;
use super::facts::{EventFacts, event_facts};
use super::robust::median;
use super::types::{AnomalyConfig, WindowKey};

/// How a feature is compared: counts on a log scale (doubling matters, not +1), the rest as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Log,
    Linear,
}

/// A feature's name, scale, weight in the robust score and the smallest spread used for it
/// (so that a feature that never varied does not turn a tiny change into a huge z-score).
#[derive(Debug, Clone, Copy)]
pub struct FeatureSpec {
    pub name: &'static str,
    pub scale: Scale,
    pub weight: f64,
    pub min_spread: f64,
}

const fn spec(name: &'static str, scale: Scale, weight: f64, min_spread: f64) -> FeatureSpec {
    FeatureSpec { name, scale, weight, min_spread }
}

/// The features in table order. Weights are priors on how much each kind of excess says about
/// risk: denials and first-seen origins more than plain volume.
pub const FEATURES: &[FeatureSpec] = &[
    spec("events", Scale::Log, 0.5, 0.5),
    spec("read_events", Scale::Log, 0.25, 0.5),
    spec("write_events", Scale::Log, 0.5, 0.5),
    spec("sensitive_events", Scale::Log, 0.5, 0.5),
    spec("distinct_actions", Scale::Log, 0.5, 0.5),
    spec("distinct_resources", Scale::Log, 0.25, 0.5),
    spec("distinct_ips", Scale::Log, 0.75, 0.5),
    spec("distinct_user_agents", Scale::Log, 0.75, 0.5),
    spec("failed_events", Scale::Log, 0.75, 0.5),
    spec("denied_events", Scale::Log, 1.0, 0.5),
    spec("failure_ratio", Scale::Linear, 0.75, 0.1),
    spec("denied_ratio", Scale::Linear, 1.0, 0.1),
    spec("new_actions", Scale::Log, 0.5, 0.5),
    spec("new_resources", Scale::Log, 0.25, 0.5),
    spec("new_ips", Scale::Log, 1.0, 0.5),
    spec("new_user_agents", Scale::Log, 0.75, 0.5),
    spec("tenant_new_ips", Scale::Log, 1.0, 0.5),
    spec("tenant_new_user_agents", Scale::Log, 1.0, 0.5),
    spec("tenant_new_actions", Scale::Log, 0.75, 0.5),
    spec("new_actor", Scale::Log, 0.5, 0.5),
    spec("off_hours_ratio", Scale::Linear, 1.0, 0.1),
    spec("rate_vs_baseline", Scale::Linear, 0.5, 0.5),
    spec("max_action_rarity", Scale::Linear, 0.75, 0.2),
    spec("mean_action_rarity", Scale::Linear, 0.75, 0.2),
    spec("rare_sensitive_actions", Scale::Linear, 1.0, 0.25),
];

/// The optional feature added when embeddings are given.
pub const CONTENT_DISTANCE: FeatureSpec = spec("content_distance", Scale::Linear, 1.0, 0.05);

/// Column indices, in the order of [`FEATURES`].
pub mod col {
    pub const EVENTS: usize = 0;
    pub const READ: usize = 1;
    pub const WRITE: usize = 2;
    pub const SENSITIVE: usize = 3;
    pub const DISTINCT_ACTIONS: usize = 4;
    pub const DISTINCT_RESOURCES: usize = 5;
    pub const DISTINCT_IPS: usize = 6;
    pub const DISTINCT_USER_AGENTS: usize = 7;
    pub const FAILED: usize = 8;
    pub const DENIED: usize = 9;
    pub const FAILURE_RATIO: usize = 10;
    pub const DENIED_RATIO: usize = 11;
    pub const NEW_ACTIONS: usize = 12;
    pub const NEW_RESOURCES: usize = 13;
    pub const NEW_IPS: usize = 14;
    pub const NEW_USER_AGENTS: usize = 15;
    pub const TENANT_NEW_IPS: usize = 16;
    pub const TENANT_NEW_USER_AGENTS: usize = 17;
    pub const TENANT_NEW_ACTIONS: usize = 18;
    pub const NEW_ACTOR: usize = 19;
    pub const OFF_HOURS: usize = 20;
    pub const RATE: usize = 21;
    pub const MAX_RARITY: usize = 22;
    pub const MEAN_RARITY: usize = 23;
    pub const RARE_SENSITIVE: usize = 24;
    pub const CONTENT_DISTANCE: usize = 25;
}

/// The feature matrix: `values[i][j]` is feature `names[j]` of window `rows[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureTable {
    pub rows: Vec<WindowKey>,
    pub names: Vec<String>,
    pub values: Vec<Vec<f64>>,
}

/// A row while it is being scored: its key, its events and its features.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: WindowKey,
    /// Indices into the tenant's sorted events.
    pub events: Vec<usize>,
    pub values: Vec<f64>,
    /// Earlier rows of the same subject, oldest first.
    pub history: Vec<usize>,
    /// The subject has enough history to be its own baseline
    /// ([`AnomalyConfig::min_history_windows`] windows over [`AnomalyConfig::min_history_span`]).
    pub self_baseline: bool,
    /// Per event of `events`: outside the subject's usual hours.
    pub off_hours: Vec<bool>,
    /// Per event of `events`: distance from the usual content (0 without embeddings).
    pub content_distance: Vec<f64>,
}

/// One tenant's events, facts and windows.
pub struct TenantWindows<'a> {
    pub tenant: TenantId,
    pub events: Vec<&'a StoredEvent>,
    pub facts: Vec<EventFacts>,
    pub rows: Vec<Row>,
    pub specs: Vec<FeatureSpec>,
}

/// Events of history an hour-of-day profile needs, and the days it must span, before hours can
/// be called unusual.
const HOURS_MIN_EVENTS: usize = 20;
const HOURS_MIN_SPAN_DAYS: i64 = 3;
/// Embedded events an actor needs before its own centroid is its baseline.
const CONTENT_MIN_EVENTS: usize = 5;

/// Builds the windows of every tenant in `events`.
pub fn tenant_windows<'a>(
    events: &'a [StoredEvent],
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
) -> Vec<TenantWindows<'a>> {
    let mut by_tenant: BTreeMap<&TenantId, Vec<&StoredEvent>> = BTreeMap::new();
    for event in events {
        by_tenant.entry(&event.tenant).or_default().push(event);
    }
    by_tenant
        .into_iter()
        .map(|(tenant, mut tenant_events)| {
            tenant_events.sort_by_key(|event| (event.occurred_at, event.seq));
            build_tenant(tenant.clone(), tenant_events, config, embeddings)
        })
        .collect()
}

/// The feature table of `events` (all tenants), as used by the detector.
pub fn feature_table(
    events: &[StoredEvent],
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
) -> FeatureTable {
    let tenants = tenant_windows(events, config, embeddings);
    let mut names = FEATURES.iter().map(|spec| spec.name.to_owned()).collect::<Vec<_>>();
    if embeddings.is_some() {
        names.push(CONTENT_DISTANCE.name.to_owned());
    }
    let mut table = FeatureTable { rows: Vec::new(), names, values: Vec::new() };
    for tenant in tenants {
        for row in tenant.rows {
            table.rows.push(row.key);
            table.values.push(row.values);
        }
    }
    table
}

fn build_tenant<'a>(
    tenant: TenantId,
    events: Vec<&'a StoredEvent>,
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
) -> TenantWindows<'a> {
    let facts = event_facts(&events, config.window);
    // Rows ordered by window, then subject: the tenant row first, then actors by id.
    let mut grouped: BTreeMap<(DateTime<Utc>, Subject), Vec<usize>> = BTreeMap::new();
    for (index, (event, fact)) in events.iter().zip(&facts).enumerate() {
        grouped.entry((fact.window_start, Subject::tenant(&tenant))).or_default().push(index);
        grouped.entry((fact.window_start, Subject::actor(event.actor.id.clone()))).or_default().push(index);
    }
    let mut specs = FEATURES.to_vec();
    if embeddings.is_some() {
        specs.push(CONTENT_DISTANCE);
    }
    let mut profiles: HashMap<Subject, Profile> = HashMap::new();
    let mut subject_rows: HashMap<Subject, Vec<usize>> = HashMap::new();
    let mut rows = Vec::with_capacity(grouped.len());
    let mut current_window = None;
    let mut pending: Vec<(Subject, Vec<usize>)> = Vec::new();
    let content = embeddings.map(|map| ContentIndex::new(&events, map));
    let tenant_subject = Subject::tenant(&tenant);
    for ((window_start, subject), members) in grouped {
        // Profiles learn a window only after every row of that window was built, so a row never
        // sees its own window as history.
        if current_window != Some(window_start) {
            for (subject, members) in pending.drain(..) {
                profiles.entry(subject).or_default().learn(&events, &members, content.as_ref());
            }
            current_window = Some(window_start);
        }
        let index = rows.len();
        let all_history = subject_rows.get(&subject).map(Vec::as_slice).unwrap_or_default();
        let self_baseline = all_history.len() >= config.min_history_windows
            && all_history
                .first()
                .is_some_and(|&first| rows_start(&rows, first) <= window_start - config.min_history_span);
        let history = all_history[all_history.len().saturating_sub(config.max_history_windows.max(1))..].to_vec();
        subject_rows.entry(subject.clone()).or_default().push(index);
        let own = profiles.get(&subject);
        let fallback = profiles.get(&tenant_subject);
        let row = build_row(
            &tenant,
            &subject,
            window_start,
            &members,
            &events,
            &facts,
            own,
            fallback,
            content.as_ref(),
            history,
            specs.len(),
        );
        let row = Row { self_baseline, ..row };
        rows.push(row);
        pending.push((subject, members));
    }
    fill_rates(&mut rows);
    TenantWindows { tenant, events, facts, rows, specs }
}

#[allow(clippy::too_many_arguments)]
fn build_row(
    tenant: &TenantId,
    subject: &Subject,
    window_start: DateTime<Utc>,
    members: &[usize],
    events: &[&StoredEvent],
    facts: &[EventFacts],
    own: Option<&Profile>,
    fallback: Option<&Profile>,
    content: Option<&ContentIndex>,
    history: Vec<usize>,
    width: usize,
) -> Row {
    let is_tenant = subject.kind == SubjectKind::Tenant;
    let mut values = vec![0.0; width];
    let mut actions = HashSet::new();
    let mut resources = HashSet::new();
    let mut ips = HashSet::new();
    let mut agents = HashSet::new();
    let mut novel: [HashSet<&str>; 7] = Default::default();
    let mut new_actors = HashSet::new();
    let hours = [own, fallback].into_iter().flatten().find(|profile| profile.knows_hours());
    let centroid = content.and_then(|content| {
        own.filter(|profile| profile.embedded >= CONTENT_MIN_EVENTS)
            .or(fallback.filter(|profile| profile.embedded > 0))
            .map(|profile| profile.centroid())
            .or_else(|| Some(content.population_centroid()))
    });
    let mut off_hours = Vec::with_capacity(members.len());
    let mut distances = Vec::with_capacity(members.len());
    let mut rarity_sum = 0.0;
    for &index in members {
        let event = events[index];
        let fact = &facts[index];
        match fact.class {
            ActionClass::Read => values[col::READ] += 1.0,
            ActionClass::Write => values[col::WRITE] += 1.0,
            ActionClass::Sensitive => values[col::SENSITIVE] += 1.0,
        }
        values[col::FAILED] += f64::from(u8::from(fact.failed));
        values[col::DENIED] += f64::from(u8::from(fact.denied));
        let ip = event.actor.ip.as_deref();
        let agent = event.actor.user_agent.as_deref();
        let resource = event.resource.as_ref().map(|resource| resource.id.as_str());
        if actions.insert(event.action.as_str()) {
            values[col::MAX_RARITY] = f64::max(values[col::MAX_RARITY], fact.rarity);
            rarity_sum += fact.rarity;
            if fact.class == ActionClass::Sensitive {
                values[col::RARE_SENSITIVE] += fact.rarity;
            }
        }
        resources.extend(resource);
        ips.extend(ip);
        agents.extend(agent);
        // For a tenant row, "new" means new to the tenant; for an actor, new to that actor.
        let (new_action, new_resource, new_ip, new_agent) = if is_tenant {
            (fact.tenant_new_action, false, fact.tenant_new_ip, fact.tenant_new_user_agent)
        } else {
            (fact.new_action, fact.new_resource, fact.new_ip, fact.new_user_agent)
        };
        let flags = [
            (new_action, Some(event.action.as_str())),
            (new_resource, resource),
            (new_ip, ip),
            (new_agent, agent),
            (fact.tenant_new_ip, ip),
            (fact.tenant_new_user_agent, agent),
            (fact.tenant_new_action, Some(event.action.as_str())),
        ];
        for (set, (flag, value)) in novel.iter_mut().zip(flags) {
            if let (true, Some(value)) = (flag, value) {
                set.insert(value);
            }
        }
        if fact.tenant_new_actor {
            new_actors.insert(event.actor.id.as_str());
        }
        let off = hours.is_some_and(|profile| profile.unusual_hour(fact.hour));
        off_hours.push(off);
        let distance = match (content, &centroid) {
            (Some(content), Some(centroid)) => content.distance(event.seq, centroid),
            _ => 0.0,
        };
        distances.push(distance);
    }
    let count = members.len() as f64;
    values[col::EVENTS] = count;
    values[col::DISTINCT_ACTIONS] = actions.len() as f64;
    values[col::DISTINCT_RESOURCES] = resources.len() as f64;
    values[col::DISTINCT_IPS] = ips.len() as f64;
    values[col::DISTINCT_USER_AGENTS] = agents.len() as f64;
    values[col::FAILURE_RATIO] = values[col::FAILED] / count;
    values[col::DENIED_RATIO] = values[col::DENIED] / count;
    let novel_cols = [
        col::NEW_ACTIONS,
        col::NEW_RESOURCES,
        col::NEW_IPS,
        col::NEW_USER_AGENTS,
        col::TENANT_NEW_IPS,
        col::TENANT_NEW_USER_AGENTS,
        col::TENANT_NEW_ACTIONS,
    ];
    for (column, set) in novel_cols.into_iter().zip(&novel) {
        values[column] = set.len() as f64;
    }
    values[col::NEW_ACTOR] = new_actors.len() as f64;
    values[col::OFF_HOURS] = off_hours.iter().filter(|off| **off).count() as f64 / count;
    values[col::MEAN_RARITY] = rarity_sum / actions.len().max(1) as f64;
    if width > col::CONTENT_DISTANCE {
        values[col::CONTENT_DISTANCE] = distances.iter().sum::<f64>() / count;
    }
    Row {
        key: WindowKey { tenant: tenant.clone(), subject: subject.clone(), window_start },
        events: members.to_vec(),
        values,
        history,
        self_baseline: false,
        off_hours,
        content_distance: distances,
    }
}

/// Rate against the baseline: log of (events + 1) over (usual events + 1), where "usual" is the
/// median of the subject's past active windows, or of all actor windows of the tenant while
/// the subject has too little history.
fn fill_rates(rows: &mut [Row]) {
    let population: Vec<f64> = rows
        .iter()
        .filter(|row| row.key.subject.kind == SubjectKind::Actor)
        .map(|row| row.values[col::EVENTS])
        .collect();
    let population_median = median(&population);
    for index in 0..rows.len() {
        let history = &rows[index].history;
        let baseline = if rows[index].self_baseline {
            median(&history.iter().map(|&past| rows[past].values[col::EVENTS]).collect::<Vec<_>>())
        } else {
            population_median
        };
        let row = &mut rows[index];
        row.values[col::RATE] = ((row.values[col::EVENTS] + 1.0) / (baseline + 1.0)).ln();
    }
}

fn rows_start(rows: &[Row], index: usize) -> DateTime<Utc> {
    rows[index].key.window_start
}

/// What a subject's past looks like: hours of activity and usual content.
#[derive(Default)]
struct Profile {
    hour_counts: [usize; 24],
    events: usize,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    content_sum: Vec<f64>,
    embedded: usize,
}

impl Profile {
    fn learn(&mut self, events: &[&StoredEvent], members: &[usize], content: Option<&ContentIndex>) {
        for &index in members {
            let event = events[index];
            let hour = usize::try_from(chrono::Timelike::hour(&event.occurred_at)).unwrap_or(0) % 24;
            self.hour_counts[hour] += 1;
            self.events += 1;
            self.first = Some(self.first.map_or(event.occurred_at, |first| first.min(event.occurred_at)));
            self.last = Some(self.last.map_or(event.occurred_at, |last| last.max(event.occurred_at)));
            if let Some(vector) = content.and_then(|content| content.vector(event.seq)) {
                if self.content_sum.len() < vector.len() {
                    self.content_sum.resize(vector.len(), 0.0);
                }
                for (sum, value) in self.content_sum.iter_mut().zip(vector) {
                    *sum += f64::from(*value);
                }
                self.embedded += 1;
            }
        }
    }

    fn knows_hours(&self) -> bool {
        let span = match (self.first, self.last) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::zero(),
        };
        self.events >= HOURS_MIN_EVENTS && span >= Duration::days(HOURS_MIN_SPAN_DAYS)
    }

    /// An hour is unusual when it and its neighbours together hold under 1% of past activity.
    fn unusual_hour(&self, hour: u32) -> bool {
        let hour = usize::try_from(hour).unwrap_or(0) % 24;
        let around = self.hour_counts[(hour + 23) % 24] + self.hour_counts[hour] + self.hour_counts[(hour + 1) % 24];
        (around as f64) < 0.01 * self.events as f64
    }

    fn centroid(&self) -> Vec<f64> {
        normalised(self.content_sum.clone())
    }
}

/// The embeddings of a tenant's events, by seq.
struct ContentIndex<'m> {
    vectors: &'m HashMap<u64, Vec<f32>>,
    population: Vec<f64>,
}

impl<'m> ContentIndex<'m> {
    fn new(events: &[&StoredEvent], vectors: &'m HashMap<u64, Vec<f32>>) -> Self {
        let mut sum: Vec<f64> = Vec::new();
        for vector in events.iter().filter_map(|event| vectors.get(&event.seq)) {
            if sum.len() < vector.len() {
                sum.resize(vector.len(), 0.0);
            }
            for (total, value) in sum.iter_mut().zip(vector) {
                *total += f64::from(*value);
            }
        }
        Self { vectors, population: normalised(sum) }
    }

    fn vector(&self, seq: u64) -> Option<&'m Vec<f32>> {
        self.vectors.get(&seq)
    }

    fn population_centroid(&self) -> Vec<f64> {
        self.population.clone()
    }

    /// Cosine distance of an event from a unit centroid; 0 when the event has no embedding.
    fn distance(&self, seq: u64, centroid: &[f64]) -> f64 {
        let Some(vector) = self.vectors.get(&seq) else { return 0.0 };
        let norm = vector.iter().map(|value| f64::from(*value).powi(2)).sum::<f64>().sqrt();
        if norm == 0.0 || centroid.is_empty() {
            return 0.0;
        }
        let dot: f64 = vector.iter().zip(centroid).map(|(value, centre)| f64::from(*value) * centre).sum();
        (1.0 - dot / norm).clamp(0.0, 2.0)
    }
}

fn normalised(mut vector: Vec<f64>) -> Vec<f64> {
    let norm = vector.iter().map(|value| value * value).sum::<f64>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
    vector
}
