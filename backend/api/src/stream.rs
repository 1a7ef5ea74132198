//! The live stream behind `GET /api/v1/stream` (WebSocket): events as they are stored, new
//! anomalies and alerts, job runs and the integrity status, each for the caller's tenant only.
//!
//! Events are read from the log, not pushed through an in-memory queue: a subscriber keeps a
//! cursor (the next seq it needs) and reads what was stored after it, in batches, whenever an
//! append on this server wakes it or its poll finds the tenant's head has moved (appends by
//! another replica or by `veritrail ingest`). So a resume with `since_seq` replays exactly the
//! events after that seq, with no gap and no duplicate, across restarts and replicas alike; the
//! server holds at most one batch per subscriber, and ingest never waits for a subscriber. A
//! client that stops reading is told where to resume (`lagged`) and disconnected.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use veritrail_core::event::{Severity, StoredEvent};

/// Most events read from the log per step.
pub const BATCH: u32 = 500;
/// How often a subscriber looks at its tenant's head without being woken (other writers).
pub const POLL: Duration = Duration::from_millis(250);
/// How often anomalies, alerts, jobs and integrity are looked at.
pub const SLOW_POLL: Duration = Duration::from_secs(2);
/// How often the server sends a heartbeat (and a WebSocket ping).
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A client that has sent nothing (not even a pong) for this long is disconnected.
pub const IDLE: Duration = Duration::from_secs(60);
/// A message the client does not take within this time marks it as lagging.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new connection may take to subscribe.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open streams allowed per API key or user.
pub const MAX_STREAMS_PER_CALLER: usize = 8;

/// What this server's appends tell the subscribers: a counter moved on every append.
#[derive(Debug)]
pub struct StreamHub {
    appended: watch::Sender<u64>,
    open: Mutex<HashMap<String, usize>>,
}

impl Default for StreamHub {
    fn default() -> Self {
        Self { appended: watch::channel(0).0, open: Mutex::new(HashMap::new()) }
    }
}

impl StreamHub {
    /// Called after an append has committed; wakes every subscriber (each checks its tenant).
    pub fn appended(&self) {
        self.appended.send_modify(|count| *count = count.wrapping_add(1));
    }

    pub(crate) fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Counts an open stream of `caller`; `None` when it has too many already.
    pub(crate) fn enter(self: &Arc<Self>, caller: String) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(caller.clone()).or_default();
        if *count >= MAX_STREAMS_PER_CALLER {
            return None;
        }
        *count += 1;
        Some(StreamSlot { hub: self.clone(), caller })
    }
}

/// An open stream's place in the per-caller count, given back when dropped.
pub(crate) struct StreamSlot {
    hub: Arc<StreamHub>,
    caller: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

/// The topics a client may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    Events,
    Anomalies,
    Alerts,
    Jobs,
    Integrity,
}

/// Which events a subscriber wants; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// The actor's id, exactly.
    pub actor: Option<String>,
    /// An action prefix (`iam.` or `iam.*`), or the whole action.
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub severity: Option<Severity>,
    pub resource_type: Option<String>,
}

impl EventFilter {
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let action_ok =
            self.action.as_deref().is_none_or(|prefix| event.action.starts_with(prefix.trim_end_matches('*')));
        self.actor.as_deref().is_none_or(|actor| event.actor.id == actor)
            && action_ok
            && self.outcome.as_deref().is_none_or(|outcome| event.outcome.as_str() == outcome)
            && self.severity.is_none_or(|severity| event.severity == severity)
            && self
                .resource_type
                .as_deref()
                .is_none_or(|kind| event.resource.as_ref().is_some_and(|resource| resource.kind == kind))
    }
}

/// The client's one request: `{"type": "subscribe", "topics", "filter"?, "since_seq"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    #[serde(rename = "type")]
    pub kind: SubscribeType,
    pub topics: Vec<Topic>,
    #[serde(default)]
    pub filter: EventFilter,
    /// Replay stored events after this seq before the live ones.
    pub since_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscribeType {
    Subscribe,
}

impl Subscribe {
    pub fn wants(&self, topic: Topic) -> bool {
        self.topics.contains(&topic)
    }
}

/// Ids already sent of a kind of item (anomalies, alerts), bounded.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    ids: HashSet<String>,
}

impl Seen {
    const MAX: usize = 10_000;

    /// Whether `id` is new; remembers it.
    pub(crate) fn first_time(&mut self, id: &str) -> bool {
        if self.ids.len() >= Self::MAX {
            self.ids.clear();
        }
        self.ids.insert(id.to_owned())
    }
}

pub(crate) fn event_message(event: &StoredEvent) -> Value {
    json!({"type": "event", "event": event})
}

pub(crate) fn error_message(message: &str) -> Value {
    json!({"type": "error", "message": message})
}
