//! One pure function per service, from an [`AlertMessage`] to the payload that service documents.
//!
//! Every renderer respects the service's documented size limits and shortens text with an
//! ellipsis rather than letting the service refuse (or silently cut) the message.

pub mod discord;
pub mod email;
pub mod slack;
pub mod teams;
pub mod text;
pub mod webhook;

use veritrail_core::event::Severity;

use crate::message::{AlertMessage, TimeWindow};

/// `HIGH`, `CRITICAL`, ...: how severities appear in subjects and headings.
pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Debug => "DEBUG",
        Severity::Info => "INFO",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The title on one line, or a generic one: every service refuses an empty title.
pub fn title_text(message: &AlertMessage) -> String {
    let title = text::single_line(&message.title);
    if title.trim().is_empty() { format!("Veritrail {} alert", message.kind.label().to_lowercase()) } else { title }
}

/// `2026-03-01 10:00:00 – 11:00:00 UTC` (the date is repeated only when it changes).
pub fn window_text(window: &TimeWindow) -> String {
    let start = window.start.format("%Y-%m-%d %H:%M:%S");
    if window.start.date_naive() == window.end.date_naive() {
        format!("{start} – {} UTC", window.end.format("%H:%M:%S"))
    } else {
        format!("{start} – {} UTC", window.end.format("%Y-%m-%d %H:%M:%S"))
    }
}

/// "3 events" / "1 event".
pub fn events_text(count: usize) -> String {
    if count == 1 { "1 event".to_owned() } else { format!("{count} events") }
}

/// The label of the link to the events.
pub fn link_label(message: &AlertMessage) -> String {
    if message.event_ids.is_empty() {
        "Open in Veritrail".to_owned()
    } else {
        format!("View {} in Veritrail", events_text(message.event_ids.len()))
    }
}
