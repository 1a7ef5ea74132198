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
use futures::StreamExt;
use veritrail_core::access::Permission;
use veritrail_reports::export::{self, ExportFormat};

use super::events::parse_list_query;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Expensive: under [`crate::expensive`]'s slots and time limit (the stream holds its slot).
pub(crate) fn expensive_router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/export/events.csv", get(|state, caller, query| export(state, caller, query, ExportFormat::Csv)))
        .route(
            "/api/v1/export/events.jsonl",
            get(|state, caller, query| export(state, caller, query, ExportFormat::Jsonl)),
        )
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    caller.require(Permission::Export)?;
    if let Some(paging) = ["limit", "cursor"].into_iter().find(|name| params.contains_key(*name)) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("an export has every matching event; drop {paging}"),
        ));
    }
    let query = parse_list_query(&params, &state)?;
    let tenant = caller.tenant().clone();
    tracing::info!(%tenant, by = %caller.label(), "events exported");
    let body = export::pages(state.events.clone(), tenant, query, format).map(|chunk| match chunk {
        Ok(chunk) => Ok(Bytes::from(chunk.bytes)),
        Err(error) => {
            // The status line has gone out: cutting the body short is the only signal left.
            tracing::error!(%error, "export stopped");
            Err(std::io::Error::other(error.to_string()))
        }
    });
    let (content_type, extension) = (format.content_type(), format.as_str());
    let disposition = format!("attachment; filename=\"events-{}.{extension}\"", caller.tenant());
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
