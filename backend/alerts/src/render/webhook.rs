//! Generic webhooks: a JSON body and the signature headers described in [`crate::signature`].
//!
//! Body: `{id, kind, title, severity, summary, subject, window, event_ids, link, facts,
//! created_at}`, plus `items` for digests. `id` is the delivery id, also sent as
//! `X-Veritrail-Delivery`; in the body it is covered by the signature, so a receiver can trust it
//! for de-duplication.

use serde::Serialize;
use veritrail_core::event::{Severity, timestamp};

use crate::message::{AlertKind, AlertMessage, DigestItem, TimeWindow};
use crate::signature::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// The webhook body.
#[derive(Debug, Serialize)]
pub struct WebhookBody<'a> {
    pub id: &'a str,
    pub kind: AlertKind,
    pub title: &'a str,
    pub severity: Severity,
    pub summary: &'a str,
    pub subject: Option<&'a str>,
    pub window: Option<&'a TimeWindow>,
    pub event_ids: &'a [String],
    pub link: Option<&'a str>,
    pub facts: Vec<Fact<'a>>,
    #[serde(with = "timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub items: &'a [DigestItem],
}

/// A fact as `{"name", "value"}`.
#[derive(Debug, Serialize)]
pub struct Fact<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A body and the headers to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub body: Vec<u8>,
    /// `Content-Type`, the timestamp, the signature and the delivery id.
    pub headers: Vec<(&'static str, String)>,
}

/// The webhook body for `message` as bytes.
pub fn body(message: &AlertMessage, delivery_id: &str) -> Vec<u8> {
    let body = WebhookBody {
        id: delivery_id,
        kind: message.kind,
        title: &message.title,
        severity: message.severity,
        summary: &message.summary,
        subject: message.subject.as_deref(),
        window: message.window.as_ref(),
        event_ids: &message.event_ids,
        link: message.link.as_deref(),
        facts: message.facts.iter().map(|(name, value)| Fact { name, value }).collect(),
        created_at: message.created_at,
        items: &message.items,
    };
    serde_json::to_vec(&body).expect("the body has string keys only")
}

/// The body signed with `secret` at `timestamp` (Unix seconds), with all headers.
pub fn render(message: &AlertMessage, delivery_id: &str, secret: &[u8], timestamp: i64) -> SignedRequest {
    let body = body(message, delivery_id);
    let signature = sign(secret, timestamp, &body);
    SignedRequest {
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature),
            (DELIVERY_HEADER, delivery_id.to_owned()),
        ],
        body,
    }
}
