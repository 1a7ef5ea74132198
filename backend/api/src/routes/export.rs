//! `GET /api/v1/export/events.csv` and `/events.jsonl`: the caller's events matching the list
//! filters, oldest first, streamed from the database page by page, so memory stays the same
//! whatever the size of the export.

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::stream::{self, StreamExt};
use veritrail_core::access::Permission;
use veritrail_core::event::{StoredEvent, format_time};
use veritrail_core::store::EventQuery;

use super::events::parse_list_query;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Events read per database round trip.
const PAGE: u32 = 1_000;

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

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Jsonl,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/export/events.csv", get(|state, caller, query| export(state, caller, query, Format::Csv)))
        .route("/api/v1/export/events.jsonl", get(|state, caller, query| export(state, caller, query, Format::Jsonl)))
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    format: Format,
) -> Result<Response, ApiError> {
    caller.require(Permission::Export)?;
    if let Some(paging) = ["limit", "cursor"].into_iter().find(|name| params.contains_key(*name)) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("an export has every matching event; drop {paging}"),
        ));
    }
    let query = EventQuery { limit: PAGE, ascending: true, ..parse_list_query(&params, &state)? };
    let tenant = caller.tenant().clone();
    tracing::info!(%tenant, by = %caller.label(), "events exported");
    let header = match format {
        Format::Csv => Some(csv_rows(&[], true)),
        Format::Jsonl => None,
    };
    // One page per step: the cursor is the last seq sent; an empty page ends the stream.
    let pages = stream::unfold(Some(None::<u64>), move |cursor| {
        let (state, tenant, query) = (state.clone(), tenant.clone(), query.clone());
        async move {
            let after_seq = cursor?;
            let page = EventQuery { after_seq, ..query };
            match state.events.list(&tenant, &page).await {
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let next = (events.len() == PAGE as usize).then(|| events.last().map(|event| event.seq));
                    let bytes = match format {
                        Format::Csv => csv_rows(&events, false),
                        Format::Jsonl => jsonl_rows(&events),
                    };
                    Some((Ok::<Bytes, std::io::Error>(bytes), next))
                }
                Err(error) => {
                    // The status line has gone out: cutting the body short is the only signal left.
                    tracing::error!(%error, "export stopped");
                    Some((Err(std::io::Error::other(error.to_string())), None))
                }
            }
        }
    });
    let body = stream::iter(header.map(Ok::<Bytes, std::io::Error>)).chain(pages);
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Jsonl => ("application/x-ndjson", "jsonl"),
    };
    let disposition = format!("attachment; filename=\"events-{}.{extension}\"", caller.tenant());
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
/// gets a leading `'`, as OWASP recommends against CSV injection.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}").into() } else { cell.into() }
}

fn csv_rows(events: &[StoredEvent], header: bool) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(events.len() * 512));
    let mut write = |record: &[String]| {
        let cells = record.iter().map(|cell| neutralise(cell));
        // Writing to a Vec cannot fail; a refused record would only lose that row.
        let _ = writer.write_record(cells.map(|cell| cell.into_owned()));
    };
    if header {
        write(&CSV_HEADER.map(str::to_owned));
    }
    for event in events {
        let resource = event.resource.as_ref();
        write(&[
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
        ]);
    }
    Bytes::from(writer.into_inner().unwrap_or_default())
}

fn jsonl_rows(events: &[StoredEvent]) -> Bytes {
    let mut out = Vec::with_capacity(events.len() * 512);
    for event in events {
        // Serialising a stored event cannot fail: its maps have string keys.
        let _ = serde_json::to_writer(&mut out, event);
        out.push(b'\n');
    }
    Bytes::from(out)
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
}
