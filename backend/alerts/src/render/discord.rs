//! Discord webhooks: `content` plus one embed.
//!
//! Limits from Discord's API reference: content 2,000 characters; embed title 256, description
//! 4,096, at most 25 fields with names of 256 and values of 1,024, footer 2,048, and 6,000
//! characters over all of an embed's texts. `allowed_mentions: {"parse": []}` stops any text in
//! an alert from pinging `@everyone`, a role or a user.

use serde_json::{Value, json};
use veritrail_core::event::{Severity, format_time};

use super::text::{discord_markdown, http_link, single_line, truncate};
use super::{events_text, link_label, severity_label, title_text, window_text};
use crate::message::AlertMessage;

pub const CONTENT_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
pub const EMBED_TOTAL_MAX: usize = 6000;
/// Room kept for the description when fields crowd the embed.
const DESCRIPTION_RESERVE: usize = 1000;

/// Embed colour (0xRRGGBB) for a severity.
pub fn color(severity: Severity) -> u32 {
    match severity {
        Severity::Debug => 0x95A5A6,
        Severity::Info => 0x3498DB,
        Severity::Low => 0xF1C40F,
        Severity::Medium => 0xE67E22,
        Severity::High => 0xE74C3C,
        Severity::Critical => 0x992D22,
    }
}

/// The JSON body to POST to a Discord webhook URL.
pub fn render(message: &AlertMessage) -> Value {
    let severity = severity_label(message.severity);
    // Embed titles are not markdown; everything else written by users is escaped.
    let title = truncate(&title_text(message), TITLE_MAX);

    let mut fields: Vec<(String, String, bool)> = Vec::new();
    fields.push(("Severity".to_owned(), severity.to_owned(), true));
    fields.push(("Kind".to_owned(), message.kind.label().to_owned(), true));
    if let Some(subject) = &message.subject {
        fields.push(("Subject".to_owned(), discord_markdown(&single_line(subject), FIELD_VALUE_MAX), true));
    }
    if let Some(window) = &message.window {
        fields.push(("Window".to_owned(), window_text(window), false));
    }
    for (name, value) in &message.facts {
        fields.push((
            discord_markdown(&single_line(name), FIELD_NAME_MAX),
            discord_markdown(value, FIELD_VALUE_MAX),
            true,
        ));
    }
    for item in &message.items {
        let value = match &item.subject {
            Some(subject) => format!("{} — {}", single_line(subject), item.summary),
            None => item.summary.clone(),
        };
        let name = format!("[{}] {}", severity_label(item.severity), single_line(&item.title));
        fields.push((discord_markdown(&name, FIELD_NAME_MAX), discord_markdown(&value, FIELD_VALUE_MAX), false));
    }
    let total_fields = fields.len();
    let mut fields: Vec<(String, String, bool)> = fields
        .into_iter()
        .map(|(name, value, inline)| {
            // Discord refuses empty names and values.
            let name = if name.trim().is_empty() { "—".to_owned() } else { name };
            let value = if value.trim().is_empty() { "—".to_owned() } else { value };
            (name, value, inline)
        })
        .take(FIELDS_MAX)
        .collect();
    if total_fields > FIELDS_MAX {
        // The last slot says how many did not fit.
        fields.truncate(FIELDS_MAX - 1);
        fields.push(("…".to_owned(), format!("{} more not shown", total_fields - (FIELDS_MAX - 1)), false));
    }

    let footer = match message.event_ids.len() {
        0 => "Veritrail".to_owned(),
        n => format!("Veritrail · {}", events_text(n)),
    };
    let chars = |s: &str| s.chars().count();
    let fixed = chars(&title) + chars(&footer);
    // Drop trailing fields until the description keeps a fair share of the 6,000 characters.
    while fields.len() > 2
        && fixed + fields.iter().map(|(n, v, _)| chars(n) + chars(v)).sum::<usize>()
            > EMBED_TOTAL_MAX - DESCRIPTION_RESERVE
    {
        fields.pop();
    }
    let used = fixed + fields.iter().map(|(n, v, _)| chars(n) + chars(v)).sum::<usize>();
    let description = discord_markdown(&message.summary, DESCRIPTION_MAX.min(EMBED_TOTAL_MAX.saturating_sub(used)));

    let mut embed = json!({
        "title": title,
        "color": color(message.severity),
        "fields": fields.into_iter().map(|(name, value, inline)| json!({"name": name, "value": value, "inline": inline})).collect::<Vec<_>>(),
        "footer": {"text": truncate(&footer, FOOTER_MAX)},
        "timestamp": format_time(&message.created_at),
    });
    // Discord refuses an empty description; leave it out instead.
    if !description.trim().is_empty() {
        embed["description"] = json!(description);
    }
    let link = http_link(message.link.as_deref());
    if let Some(link) = &link {
        embed["url"] = json!(link);
    }

    let mut content = format!("**[{severity}]** {}", discord_markdown(&title, TITLE_MAX * 2));
    if let Some(link) = &link {
        content.push_str(&format!("\n{}: <{link}>", link_label(message)));
    }
    json!({
        "content": truncate(&content, CONTENT_MAX),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}
