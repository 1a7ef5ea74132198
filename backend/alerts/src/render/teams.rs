//! Microsoft Teams: a message with one Adaptive Card (schema 1.4), the format both Teams
//! "Workflows" webhooks and the older incoming webhooks accept.
//!
//! Teams refuses messages over about 28 KB, so the card is rendered again with smaller text
//! budgets until it fits. Teams only notifies people through explicit `msteams.entities`
//! mentions, which the card never contains, so alert text cannot ping anyone.

use serde_json::{Value, json};
use veritrail_core::event::Severity;

use super::text::{http_link, single_line, teams_text};
use super::{events_text, link_label, severity_label, title_text, window_text};
use crate::message::AlertMessage;

/// Teams' documented message size limit (bytes of the JSON body), with some headroom.
pub const PAYLOAD_MAX_BYTES: usize = 27 * 1024;
pub const CARD_VERSION: &str = "1.4";
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// Text budgets; halved on every try that comes out too large.
#[derive(Clone, Copy)]
struct Budget {
    summary: usize,
    fact_value: usize,
    facts: usize,
    items: usize,
}

/// The JSON body to POST to a Teams workflow or incoming-webhook URL.
pub fn render(message: &AlertMessage) -> Value {
    let mut budget = Budget { summary: 8000, fact_value: 1000, facts: 40, items: 50 };
    loop {
        let payload = render_with(message, budget);
        let size = serde_json::to_vec(&payload).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
        if size <= PAYLOAD_MAX_BYTES || budget.summary <= 64 {
            return payload;
        }
        budget = Budget {
            summary: budget.summary / 2,
            fact_value: (budget.fact_value / 2).max(32),
            facts: (budget.facts / 2).max(4),
            items: (budget.items / 2).max(4),
        };
    }
}

/// TextBlock colour for a severity.
fn color(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "Attention",
        Severity::Medium | Severity::Low => "Warning",
        Severity::Info | Severity::Debug => "Accent",
    }
}

fn render_with(message: &AlertMessage, budget: Budget) -> Value {
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("{} · {}", severity_label(message.severity), message.kind.label()),
            "size": "Small",
            "weight": "Bolder",
            "color": color(message.severity),
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": teams_text(&title_text(message), 256),
            "size": "Large",
            "weight": "Bolder",
            "wrap": true,
        }),
        json!({"type": "TextBlock", "text": teams_text(&message.summary, budget.summary), "wrap": true}),
    ];

    let mut facts: Vec<(String, String)> = Vec::new();
    if let Some(subject) = &message.subject {
        facts.push(("Subject".to_owned(), single_line(subject)));
    }
    if let Some(window) = &message.window {
        facts.push(("Window".to_owned(), window_text(window)));
    }
    if !message.event_ids.is_empty() {
        facts.push(("Events".to_owned(), events_text(message.event_ids.len())));
    }
    facts.extend(message.facts.iter().cloned());
    if facts.len() > budget.facts {
        let hidden = facts.len() - budget.facts + 1;
        facts.truncate(budget.facts - 1);
        facts.push(("…".to_owned(), format!("{hidden} more facts not shown")));
    }
    if !facts.is_empty() {
        body.push(json!({
            "type": "FactSet",
            "facts": facts
                .into_iter()
                .map(|(title, value)| {
                    json!({"title": teams_text(&single_line(&title), 100), "value": teams_text(&value, budget.fact_value)})
                })
                .collect::<Vec<_>>(),
        }));
    }

    if !message.items.is_empty() {
        body.push(json!({"type": "TextBlock", "text": "Alerts in this digest", "weight": "Bolder", "separator": true, "wrap": true}));
        for item in message.items.iter().take(budget.items) {
            let subject = item.subject.as_deref().map(|s| format!(" — {}", single_line(s))).unwrap_or_default();
            body.push(json!({
                "type": "TextBlock",
                "text": teams_text(&format!("[{}] {}{subject}", severity_label(item.severity), single_line(&item.title)), 400),
                "wrap": true,
                "spacing": "Small",
            }));
        }
        if message.items.len() > budget.items {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("…and {} more", message.items.len() - budget.items),
                "isSubtle": true,
                "wrap": true,
            }));
        }
    }

    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    });
    if let Some(link) = http_link(message.link.as_deref()) {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": link_label(message), "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": null, "content": card}],
    })
}
