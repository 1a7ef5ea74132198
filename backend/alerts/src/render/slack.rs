//! Slack incoming webhooks: a `text` fallback (notifications, screen readers) plus Block Kit
//! `blocks`.
//!
//! Limits from Slack's Block Kit reference: header text 150 characters; section text 3,000;
//! section fields at most 10, each 2,000; context at most 10 elements; at most 50 blocks. Text in
//! `mrkdwn` has `&`, `<` and `>` escaped, so alert content can neither form links nor mention
//! (`<!channel>`, `<@U123>`) anyone.

use serde_json::{Value, json};

use super::text::{http_link, single_line, slack_mrkdwn, truncate};
use super::{events_text, link_label, severity_label, title_text, window_text};
use crate::message::AlertMessage;

pub const HEADER_MAX: usize = 150;
pub const SECTION_TEXT_MAX: usize = 3000;
pub const FIELD_TEXT_MAX: usize = 2000;
pub const FIELDS_PER_SECTION: usize = 10;
pub const CONTEXT_ELEMENTS_MAX: usize = 10;
pub const BLOCKS_MAX: usize = 50;
/// Fallback `text`; Slack accepts more, but notifications show far less.
pub const FALLBACK_MAX: usize = 3000;
/// Fact sections after which the rest of the facts are summarised.
const FACT_SECTIONS_MAX: usize = 3;

/// The JSON body to POST to a Slack incoming-webhook URL.
pub fn render(message: &AlertMessage) -> Value {
    let severity = severity_label(message.severity);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&title_text(message), HEADER_MAX), "emoji": false},
    })];

    let lead = format!("*{severity}* · {}\n", message.kind.label());
    blocks.push(section(&format!("{lead}{}", slack_mrkdwn(&message.summary, SECTION_TEXT_MAX - lead.chars().count()))));

    blocks.extend(fact_sections(&message.facts));
    if !message.items.is_empty() {
        blocks.push(section(&digest_list(message)));
    }
    if let Some(link) = http_link(message.link.as_deref()) {
        blocks.push(section(&format!("<{}|{}>", link_target(&link), slack_mrkdwn(&link_label(message), 200))));
    }

    let mut context = Vec::new();
    if let Some(subject) = &message.subject {
        context.push(format!("*Subject:* {}", slack_mrkdwn(&single_line(subject), 500)));
    }
    if let Some(window) = &message.window {
        context.push(format!("*Window:* {}", window_text(window)));
    }
    if !message.event_ids.is_empty() {
        context.push(events_text(message.event_ids.len()));
    }
    context.push("Veritrail".to_owned());
    context.truncate(CONTEXT_ELEMENTS_MAX);
    blocks.push(json!({
        "type": "context",
        "elements": context.into_iter().map(|text| json!({"type": "mrkdwn", "text": text})).collect::<Vec<_>>(),
    }));
    blocks.truncate(BLOCKS_MAX);

    let fallback = format!("[{severity}] {}: {}", title_text(message), single_line(&message.summary));
    json!({"text": slack_mrkdwn(&fallback, FALLBACK_MAX), "blocks": blocks})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn fact_sections(facts: &[(String, String)]) -> Vec<Value> {
    let shown = FIELDS_PER_SECTION * FACT_SECTIONS_MAX;
    let mut sections: Vec<Value> = facts
        .chunks(FIELDS_PER_SECTION)
        .take(FACT_SECTIONS_MAX)
        .map(|chunk| {
            let fields: Vec<Value> = chunk
                .iter()
                .map(|(name, value)| {
                    let name = slack_mrkdwn(&single_line(name), 200);
                    let room = FIELD_TEXT_MAX - name.chars().count() - 3;
                    json!({"type": "mrkdwn", "text": format!("*{name}*\n{}", slack_mrkdwn(value, room))})
                })
                .collect();
            json!({"type": "section", "fields": fields})
        })
        .collect();
    if facts.len() > shown {
        sections.push(section(&format!("_…and {} more facts_", facts.len() - shown)));
    }
    sections
}

fn digest_list(message: &AlertMessage) -> String {
    let mut out = String::new();
    for (shown, item) in message.items.iter().enumerate() {
        let title = slack_mrkdwn(&single_line(&item.title), 300);
        let title = match http_link(item.link.as_deref()) {
            Some(link) => format!("<{}|{title}>", link_target(&link)),
            None => title,
        };
        let subject =
            item.subject.as_deref().map(|s| format!(" — {}", slack_mrkdwn(&single_line(s), 200))).unwrap_or_default();
        let line = format!("• *{}* {title}{subject}\n", severity_label(item.severity));
        let more = format!("_…and {} more_", message.items.len() - shown);
        if out.chars().count() + line.chars().count() + more.chars().count() > SECTION_TEXT_MAX {
            out.push_str(&more);
            return out;
        }
        out.push_str(&line);
    }
    out
}

/// A URL inside `<url|label>`: `|` and angle brackets would end the link early, and `&` must be
/// escaped like anywhere else in `mrkdwn`.
fn link_target(url: &str) -> String {
    url.replace('&', "&amp;").replace('|', "%7C").replace('<', "%3C").replace('>', "%3E")
}
