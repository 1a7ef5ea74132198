//! E-mail: subject `[Veritrail][SEVERITY] title`, and the same content as plain text and as HTML
//! (sent as `multipart/alternative`, so each mail client shows the part it prefers).

use std::fmt::Write;

use super::text::{html_escape, http_link, single_line, truncate};
use super::{events_text, link_label, severity_label, title_text, window_text};
use crate::message::AlertMessage;

/// Longest title kept in the subject (RFC 5322 suggests 78-character lines; clients cut anyway).
pub const SUBJECT_TITLE_MAX: usize = 150;
/// Event ids listed in the body; the rest are counted.
pub const EVENT_IDS_SHOWN: usize = 50;

/// What an alert e-mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders the subject and both bodies.
pub fn render(message: &AlertMessage) -> EmailContent {
    let severity = severity_label(message.severity);
    let title = title_text(message);
    EmailContent {
        subject: format!("[Veritrail][{severity}] {}", truncate(&title, SUBJECT_TITLE_MAX)),
        text: text_body(message),
        html: html_body(message),
    }
}

/// Name/value rows shown under the summary.
fn rows(message: &AlertMessage) -> Vec<(String, String)> {
    let mut rows = vec![
        ("Severity".to_owned(), severity_label(message.severity).to_owned()),
        ("Kind".to_owned(), message.kind.label().to_owned()),
    ];
    if let Some(subject) = &message.subject {
        rows.push(("Subject".to_owned(), single_line(subject)));
    }
    if let Some(window) = &message.window {
        rows.push(("Window".to_owned(), window_text(window)));
    }
    rows.extend(message.facts.iter().map(|(name, value)| (single_line(name), value.clone())));
    rows
}

fn shown_event_ids(message: &AlertMessage) -> (String, usize) {
    let ids = &message.event_ids;
    let shown: Vec<&str> = ids.iter().take(EVENT_IDS_SHOWN).map(String::as_str).collect();
    (shown.join(", "), ids.len().saturating_sub(EVENT_IDS_SHOWN))
}

fn text_body(message: &AlertMessage) -> String {
    // `write!` into a String cannot fail.
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", title_text(message));
    let _ = writeln!(out, "{}\n", message.summary);
    for (name, value) in rows(message) {
        let _ = writeln!(out, "{name}: {value}");
    }
    if !message.items.is_empty() {
        let _ = writeln!(out, "\nAlerts in this digest:");
        for item in &message.items {
            let subject = item.subject.as_deref().map(|s| format!(" — {}", single_line(s))).unwrap_or_default();
            let _ = writeln!(out, "- [{}] {}{subject}", severity_label(item.severity), single_line(&item.title));
            if let Some(link) = http_link(item.link.as_deref()) {
                let _ = writeln!(out, "  {link}");
            }
        }
    }
    if !message.event_ids.is_empty() {
        let (ids, more) = shown_event_ids(message);
        let _ = write!(out, "\n{}: {ids}", events_text(message.event_ids.len()));
        if more > 0 {
            let _ = write!(out, " and {more} more");
        }
        out.push('\n');
    }
    if let Some(link) = http_link(message.link.as_deref()) {
        let _ = writeln!(out, "\n{}: {link}", link_label(message));
    }
    out.push_str("\n-- \nSent by Veritrail\n");
    out
}

fn html_body(message: &AlertMessage) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family: sans-serif; color: #222;\">\n<h2>{title}</h2>\n",
        title = html_escape(&title_text(message)),
    );
    for paragraph in message.summary.split("\n\n") {
        let _ = writeln!(out, "<p>{}</p>", html_escape(paragraph).replace('\n', "<br>\n"));
    }
    out.push_str("<table cellpadding=\"4\" style=\"border-collapse: collapse;\">\n");
    for (name, value) in rows(message) {
        let _ =
            writeln!(out, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", html_escape(&name), html_escape(&value));
    }
    out.push_str("</table>\n");
    if !message.items.is_empty() {
        out.push_str("<h3>Alerts in this digest</h3>\n<ul>\n");
        for item in &message.items {
            let title = html_escape(&single_line(&item.title));
            let title = match http_link(item.link.as_deref()) {
                Some(link) => format!("<a href=\"{}\">{title}</a>", html_escape(&link)),
                None => title,
            };
            let subject =
                item.subject.as_deref().map(|s| format!(" — {}", html_escape(&single_line(s)))).unwrap_or_default();
            let _ = writeln!(out, "<li><strong>[{}]</strong> {title}{subject}</li>", severity_label(item.severity));
        }
        out.push_str("</ul>\n");
    }
    if !message.event_ids.is_empty() {
        let (ids, more) = shown_event_ids(message);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let _ = writeln!(
            out,
            "<p><small>{}: <code>{}</code>{more}</small></p>",
            events_text(message.event_ids.len()),
            html_escape(&ids)
        );
    }
    if let Some(link) = http_link(message.link.as_deref()) {
        let _ = writeln!(out, "<p><a href=\"{}\">{}</a></p>", html_escape(&link), html_escape(&link_label(message)));
    }
    out.push_str("<p style=\"color: #888;\"><small>Sent by Veritrail</small></p>\n</body></html>\n");
    out
}
