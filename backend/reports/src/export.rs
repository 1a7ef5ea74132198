//! Exports of the log: a tenant's events matching the list filters, oldest first, as CSV or JSON
//! Lines, read from the database page by page so memory stays the same whatever the size.
//!
//! One implementation for every caller: the API streams [`pages`] as the response body,
//! `veritrail export` writes them to a file, and CSV reports use [`csv_rows`].

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, Stream};
use veritrail_core::event::{Outcome, Severity, StoredEvent, TenantId, format_time};
use veritrail_core::store::{EventLog, EventQuery, StoreError};

/// Events read per database round trip.
pub const PAGE: u32 = 1_000;

/// The CSV columns, in this order.
pub const CSV_HEADER: [&str; 18] = [
    "seq",
    "id",
    "occurred_at",
    "received_at",
    "actor_id",
    "actor_type",
    "actor_name",
    "actor_ip",
    "action",
    "resource_type",
    "resource_id",
    "resource_name",
    "outcome",
    "severity",
    "tags",
    "details",
    "hash",
    "prev_hash",
];

veritrail_core::wire_enum! {
    /// The file format of an export.
    pub enum ExportFormat ("export format") {
        Csv => "csv",
        Jsonl => "jsonl",
    }
}

impl ExportFormat {
    /// The `Content-Type` of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// The filters of an export and of a report (`filter`), named as `GET /api/v1/events` names
/// them; `since` and `until` are given beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// The actor id exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The action exactly, or a prefix when it ends in `*` (`iam.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

impl EventFilter {
    /// The list query selecting these events with `since <= occurred_at < until`.
    pub fn query(&self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> EventQuery {
        let text = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        EventQuery {
            actor_id: text(&self.actor),
            action: text(&self.action),
            resource_type: text(&self.resource_type),
            resource_id: text(&self.resource_id),
            outcome: self.outcome,
            severity: self.severity,
            since,
            until,
            ascending: true,
            limit: PAGE,
            ..Default::default()
        }
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One piece of an export: bytes to write, and how far through the log they reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// Events in this chunk (0 for the CSV header).
    pub events: usize,
    /// The seq of the last event in the chunk.
    pub last_seq: Option<u64>,
}

/// The export of the tenant's events matching `query` (its paging fields are ignored), oldest
/// first: the CSV header, then one chunk per page read.
pub fn pages(
    events: Arc<dyn EventLog>,
    tenant: TenantId,
    query: EventQuery,
    format: ExportFormat,
) -> impl Stream<Item = Result<Chunk, StoreError>> + Send + 'static {
    let header = match format {
        ExportFormat::Csv => Some(Ok(Chunk { bytes: csv_rows(&[], true), events: 0, last_seq: None })),
        ExportFormat::Jsonl => None,
    };
    let query = EventQuery { limit: PAGE, ascending: true, before_seq: None, ..query };
    // One page per step: the cursor is the last seq sent; a short page ends the stream.
    let body = stream::unfold(Some(query.after_seq), move |cursor| {
        let (events, tenant, query) = (events.clone(), tenant.clone(), query.clone());
        async move {
            let after_seq = cursor?;
            let page = EventQuery { after_seq, ..query };
            match events.list(&tenant, &page).await {
                Ok(found) if found.is_empty() => None,
                Ok(found) => {
                    let last_seq = found.last().map(|event| event.seq);
                    let next = (found.len() == PAGE as usize).then_some(last_seq);
                    let bytes = match format {
                        ExportFormat::Csv => csv_rows(&found, false),
                        ExportFormat::Jsonl => jsonl_rows(&found),
                    };
                    Some((Ok(Chunk { bytes, events: found.len(), last_seq }), next))
                }
                Err(error) => Some((Err(error), None)),
            }
        }
    });
    futures::StreamExt::chain(stream::iter(header), body)
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
/// gets a leading `'`, as OWASP recommends against CSV injection.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}").into() } else { cell.into() }
}

/// Writes rows of cells as CSV, every cell neutralised.
pub fn csv_table<I, R, C>(rows: I, capacity: usize) -> Vec<u8>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(capacity));
    for row in rows {
        let cells: Vec<String> = row.into_iter().map(|cell| neutralise(cell.as_ref()).into_owned()).collect();
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&cells);
    }
    writer.into_inner().unwrap_or_default()
}

/// The CSV cells of one event, in [`CSV_HEADER`] order.
pub fn csv_cells(event: &StoredEvent) -> [String; 18] {
    let resource = event.resource.as_ref();
    [
        event.seq.to_string(),
        event.id.clone(),
        format_time(&event.occurred_at),
        format_time(&event.received_at),
        event.actor.id.clone(),
        event.actor.kind.clone(),
        event.actor.name.clone().unwrap_or_default(),
        event.actor.ip.clone().unwrap_or_default(),
        event.action.clone(),
        resource.map(|resource| resource.kind.clone()).unwrap_or_default(),
        resource.map(|resource| resource.id.clone()).unwrap_or_default(),
        resource.and_then(|resource| resource.name.clone()).unwrap_or_default(),
        event.outcome.as_str().to_owned(),
        event.severity.as_str().to_owned(),
        serde_json::to_string(&event.tags).unwrap_or_default(),
        serde_json::to_string(&event.details).unwrap_or_default(),
        event.hash.to_hex(),
        event.prev_hash.to_hex(),
    ]
}

/// `events` as CSV rows, after the header when `header` is set.
pub fn csv_rows(events: &[StoredEvent], header: bool) -> Vec<u8> {
    let head = header.then(|| CSV_HEADER.map(str::to_owned));
    csv_table(head.into_iter().chain(events.iter().map(csv_cells)), events.len() * 512 + 256)
}

/// `events` as JSON Lines, one stored event per line.
pub fn jsonl_rows(events: &[StoredEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 512);
    for event in events {
        // Serialising a stored event cannot fail: its maps have string keys.
        let _ = serde_json::to_writer(&mut out, event);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_cells_kept() {
        for cell in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        for cell in ["alice", "repo.delete", "{\"a\":1}", "", "1e3"] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    #[test]
    fn the_header_comes_first_and_cells_are_quoted_as_needed() {
        let text = String::from_utf8(csv_table([vec!["a,b", "say \"hi\"", "=1+1"]], 64)).expect("utf-8");
        assert_eq!(text, "\"a,b\",\"say \"\"hi\"\"\",'=1+1\n");
        let header = String::from_utf8(csv_rows(&[], true)).expect("utf-8");
        assert_eq!(header.trim_end(), CSV_HEADER.join(","));
    }
}
