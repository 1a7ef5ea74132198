//! Per-event facts, computed once in time order: the action's class, its outcome, what is new
//! about the event for its actor and for the tenant, and how rare its action is.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Timelike, Utc};
use veritrail_core::event::{Outcome, StoredEvent};

use super::action_class::{ActionClass, classify};

/// Events a tenant needs to have logged before values new to it count as news: at the start
/// of a log every value is new and tells nothing.
pub const TENANT_ESTABLISHED_EVENTS: usize = 50;

/// What one event says, beyond its own fields.
#[derive(Debug, Clone)]
pub struct EventFacts {
    /// Index into the tenant's events sorted by time.
    pub index: usize,
    pub class: ActionClass,
    pub denied: bool,
    /// Failed while trying to change something: a failed lookup mostly means "not found" and
    /// says little, a failed change is an attempt that did not go through.
    pub failed: bool,
    /// Values the actor had not used in its history, i.e. in earlier windows (a new actor has
    /// no history to differ from: its first window is judged against the population, and a
    /// switch of origin inside one window shows in the distinct counts).
    pub new_action: bool,
    pub new_resource: bool,
    pub new_ip: bool,
    pub new_user_agent: bool,
    /// Values no actor of the tenant had used before (only once the tenant is established).
    pub tenant_new_ip: bool,
    pub tenant_new_user_agent: bool,
    pub tenant_new_action: bool,
    /// The event is in the first window of an actor that appeared in an established tenant.
    pub tenant_new_actor: bool,
    /// Rarity of the action across the tenant's actor-windows, 0 (everywhere) ..1 (in one only).
    pub rarity: f64,
    /// Start of the window holding the event.
    pub window_start: DateTime<Utc>,
    pub hour: u32,
}

/// Aligns a time on a multiple of `window` since the Unix epoch.
pub fn window_start_of(time: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let window_us = window.num_microseconds().unwrap_or(i64::MAX).max(1);
    let since_epoch = time.timestamp_micros();
    let start = since_epoch - since_epoch.rem_euclid(window_us);
    DateTime::from_timestamp_micros(start).unwrap_or(time)
}

/// When each value was first seen, and whether that first sighting was news (the actor or
/// tenant already had a history then).
#[derive(Default)]
struct Seen {
    first_window: Option<DateTime<Utc>>,
    /// The actor appeared when the tenant was already established.
    appeared_as_news: bool,
    values: [HashMap<String, FirstSeen>; 4],
    events: usize,
}

#[derive(Clone, Copy)]
struct FirstSeen {
    window: DateTime<Utc>,
    news: bool,
}

impl Seen {
    /// Records `value` of kind `kind` and tells whether it is news in `window`: first seen in
    /// this window while the history already existed. Every event of the window carrying the
    /// value is then behind the novelty, not only the first one.
    fn news(&mut self, kind: usize, value: Option<&str>, window: DateTime<Utc>, established: bool) -> bool {
        let Some(value) = value else { return false };
        let first = match self.values[kind].get(value) {
            Some(first) => *first,
            None => {
                let first = FirstSeen { window, news: established };
                self.values[kind].insert(value.to_owned(), first);
                first
            }
        };
        first.news && first.window == window
    }
}

const ACTION: usize = 0;
const RESOURCE: usize = 1;
const IP: usize = 2;
const AGENT: usize = 3;

/// Computes the facts of a tenant's events, which must be sorted by `(occurred_at, seq)`.
pub fn event_facts(events: &[&StoredEvent], window: Duration) -> Vec<EventFacts> {
    let mut per_actor: HashMap<&str, Seen> = HashMap::new();
    let mut tenant = Seen::default();
    let mut facts = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let resource = event.resource.as_ref().map(|resource| resource.id.as_str());
        let ip = event.actor.ip.as_deref();
        let agent = event.actor.user_agent.as_deref();
        let action = Some(event.action.as_str());
        let class = classify(&event.action);
        let window_start = window_start_of(event.occurred_at, window);
        let tenant_established = tenant.events >= TENANT_ESTABLISHED_EVENTS;
        let seen = per_actor
            .entry(event.actor.id.as_str())
            .or_insert_with(|| Seen { appeared_as_news: tenant_established, ..Seen::default() });
        let actor_known = *seen.first_window.get_or_insert(window_start) < window_start;
        let tenant_new_actor = seen.appeared_as_news && !actor_known;
        facts.push(EventFacts {
            index,
            class,
            denied: event.outcome == Outcome::Denied,
            failed: event.outcome == Outcome::Failure && class != ActionClass::Read,
            new_action: seen.news(ACTION, action, window_start, actor_known),
            new_resource: seen.news(RESOURCE, resource, window_start, actor_known),
            new_ip: seen.news(IP, ip, window_start, actor_known),
            new_user_agent: seen.news(AGENT, agent, window_start, actor_known),
            tenant_new_ip: tenant.news(IP, ip, window_start, tenant_established),
            tenant_new_user_agent: tenant.news(AGENT, agent, window_start, tenant_established),
            tenant_new_action: tenant.news(ACTION, action, window_start, tenant_established),
            tenant_new_actor,
            rarity: 0.0,
            window_start,
            hour: event.occurred_at.hour(),
        });
        seen.events += 1;
        tenant.events += 1;
    }
    fill_rarity(events, &mut facts);
    facts
}

/// Rarity of an action = inverse document frequency over actor-windows, scaled to 0..1: a
/// burst of one action in one window counts once, so a 29-call burst of an action nobody else
/// uses stays rare.
fn fill_rarity(events: &[&StoredEvent], facts: &mut [EventFacts]) {
    let mut units: HashSet<(&str, DateTime<Utc>)> = HashSet::new();
    let mut units_with: HashMap<&str, HashSet<(&str, DateTime<Utc>)>> = HashMap::new();
    for (event, fact) in events.iter().zip(facts.iter()) {
        let unit = (event.actor.id.as_str(), fact.window_start);
        units.insert(unit);
        units_with.entry(event.action.as_str()).or_default().insert(unit);
    }
    let total = units.len() as f64;
    if total <= 1.0 {
        return;
    }
    for (event, fact) in events.iter().zip(facts.iter_mut()) {
        let with = units_with.get(event.action.as_str()).map_or(1, HashSet::len) as f64;
        fact.rarity = ((total / with).ln() / total.ln()).clamp(0.0, 1.0);
    }
}
