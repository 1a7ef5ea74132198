//! The channel-independent alert: what happened, how bad, which events explain it.
//!
//! Renderers turn one [`AlertMessage`] into each service's payload; nothing here knows about any
//! service.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use veritrail_core::event::{Severity, timestamp};

/// What raised the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The anomaly detector found something unusual.
    Anomaly,
    /// An alert rule matched one or more events.
    EventRule,
    /// The integrity check found the log inconsistent.
    Integrity,
    /// Sent on request to check that a channel works.
    Test,
    /// Several alerts of one rule combined into one message.
    Digest,
}

impl AlertKind {
    /// The wire name (`event_rule`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anomaly => "anomaly",
            Self::EventRule => "event_rule",
            Self::Integrity => "integrity",
            Self::Test => "test",
            Self::Digest => "digest",
        }
    }

    /// A short label for people ("Event rule").
    pub fn label(self) -> &'static str {
        match self {
            Self::Anomaly => "Anomaly",
            Self::EventRule => "Event rule",
            Self::Integrity => "Integrity",
            Self::Test => "Test",
            Self::Digest => "Digest",
        }
    }
}

/// A time range the alert is about (inclusive start, exclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    #[serde(with = "timestamp")]
    pub start: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub end: DateTime<Utc>,
}

/// One alert folded into a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub title: String,
    pub severity: Severity,
    pub summary: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub event_ids: Vec<String>,
}

/// An alert ready to be sent to any channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    pub kind: AlertKind,
    /// One line, e.g. "Unusual export volume by alice".
    pub title: String,
    pub severity: Severity,
    /// Plain-text narrative: what was seen and why it matters.
    pub summary: String,
    /// Who or what the alert is about (actor, resource, tenant), if one thing.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub window: Option<TimeWindow>,
    /// The events that explain the alert.
    #[serde(default)]
    pub event_ids: Vec<String>,
    /// Where a person can see the events (dashboard URL).
    #[serde(default)]
    pub link: Option<String>,
    /// Ordered name/value pairs shown as a table ("Score" → "0.97").
    #[serde(default)]
    pub facts: Vec<(String, String)>,
    /// The alerts a digest combines; empty for other kinds.
    #[serde(default)]
    pub items: Vec<DigestItem>,
    /// Alerts with equal keys are the same alert repeated (see `throttle`).
    pub dedup_key: String,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
}

impl AlertMessage {
    /// The message behind a channel's "send test alert" button.
    pub fn test(channel_name: &str, now: DateTime<Utc>) -> Self {
        Self {
            kind: AlertKind::Test,
            title: format!("Test alert for channel \"{channel_name}\""),
            severity: Severity::Info,
            summary: "This is a test message from Veritrail. If you can read it, the channel is set up correctly."
                .to_owned(),
            subject: None,
            window: None,
            event_ids: Vec::new(),
            link: None,
            facts: vec![("Channel".to_owned(), channel_name.to_owned())],
            items: Vec::new(),
            dedup_key: format!("test:{}", now.timestamp_micros()),
            created_at: now,
        }
    }
}
