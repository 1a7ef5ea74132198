//! The transparency-log API: the log key, signed checkpoints, inclusion and consistency proofs,
//! and publishing a checkpoint on demand. Hashes are lowercase hex.

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::merkle::NodeId;
use veritrail_core::store::{ProofError, StoredCheckpoint};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::routes::params::{Params, number, reject_unknown};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/log/key", get(log_key))
        .route("/api/v1/checkpoints/latest", get(latest_checkpoint))
        .route("/api/v1/checkpoints", get(checkpoint_at))
        .route("/api/v1/proofs/inclusion", get(inclusion_proof))
        .route("/api/v1/proofs/consistency", get(consistency_proof))
}

/// Expensive: under [`crate::expensive`]'s slots and time limit (the stream holds its slot).
pub(crate) fn expensive_router() -> Router<AppState> {
    Router::new().route("/api/v1/export/bundle", post(export_bundle))
}

/// A checkpoint as served.
#[derive(Debug, Serialize)]
pub(crate) struct CheckpointBody {
    tree_size: u64,
    root_hash: Hash,
    note: String,
    #[serde(with = "veritrail_core::event::timestamp")]
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<StoredCheckpoint> for CheckpointBody {
    fn from(checkpoint: StoredCheckpoint) -> Self {
        Self {
            tree_size: checkpoint.tree_size,
            root_hash: checkpoint.root_hash,
            note: checkpoint.note,
            created_at: checkpoint.created_at,
        }
    }
}

/// An inclusion proof as served.
#[derive(Debug, Serialize)]
pub(crate) struct InclusionBody {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub hashes: Vec<Hash>,
    pub root_hash: Hash,
}

impl From<ProofError> for ApiError {
    fn from(err: ProofError) -> Self {
        match err {
            ProofError::OutOfRange(message) => ApiError::new(ErrorCode::InvalidQuery, message),
            ProofError::Store(store) => store.into(),
        }
    }
}

async fn log_key(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let signer = &state.log.signer;
    Ok(Json(json!({
        "origin": state.log.origin(caller.tenant()),
        "public_key": STANDARD.encode(signer.public_key()),
        "key_name": signer.name(),
        "verifier_key": signer.verifier_key(),
    })))
}

async fn latest_checkpoint(State(state): State<AppState>, caller: Caller) -> Result<Json<CheckpointBody>, ApiError> {
    caller.require(Permission::Read)?;
    state
        .checkpoints
        .latest_checkpoint(caller.tenant())
        .await?
        .map(|checkpoint| Json(checkpoint.into()))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no checkpoint has been published for this tenant yet"))
}

/// `?tree_size=N`: that checkpoint. Otherwise the list, oldest first: `?after=SIZE&limit=N` →
/// `{"checkpoints": [...], "next_after"}` (`next_after` is the `after` of the next page, or null).
async fn checkpoint_at(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["tree_size", "after", "limit"])?;
    let Some(tree_size) = number(&params, "tree_size")? else {
        let after = number(&params, "after")?.unwrap_or(0);
        let limit = number(&params, "limit")?
            .map_or(state.limits.default_list_limit, |limit| u32::try_from(limit).unwrap_or(u32::MAX))
            .clamp(1, state.limits.max_list_limit);
        let found = state.checkpoints.checkpoints_after(caller.tenant(), after, limit).await?;
        let next_after = (found.len() == limit as usize).then(|| found.last().map(|last| last.tree_size)).flatten();
        let checkpoints: Vec<CheckpointBody> = found.into_iter().map(CheckpointBody::from).collect();
        return Ok(Json(json!({"checkpoints": checkpoints, "next_after": next_after})));
    };
    let checkpoint = state.checkpoints.checkpoint_at(caller.tenant(), tree_size).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("no checkpoint of tree size {tree_size} was published"))
    })?;
    Ok(Json(serde_json::to_value(CheckpointBody::from(checkpoint)).map_err(ApiError::internal)?))
}

/// Returns the size of the latest published checkpoint, the default tree size of proofs.
async fn latest_size(state: &AppState, tenant: &TenantId) -> Result<u64, ApiError> {
    state
        .checkpoints
        .latest_checkpoint(tenant)
        .await?
        .map(|checkpoint| checkpoint.tree_size)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no checkpoint has been published yet; pass tree_size"))
}

/// Builds the inclusion proof of `seq` in the tree of `tree_size` leaves.
pub(crate) async fn build_inclusion(
    state: &AppState,
    tenant: &TenantId,
    seq: u64,
    tree_size: u64,
) -> Result<InclusionBody, ApiError> {
    let hashes = state.events.inclusion_proof(tenant, seq, tree_size).await?;
    let leaf_hash = state.events.tree_nodes(tenant, &[NodeId { level: 0, index: seq }]).await?.remove(0);
    let root_hash = state.events.tree_root(tenant, tree_size).await?;
    Ok(InclusionBody { leaf_index: seq, tree_size, leaf_hash, hashes, root_hash })
}

async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<InclusionBody>, ApiError> {
    caller.require(Permission::Proofs)?;
    reject_unknown(&params, &["seq", "id", "tree_size"])?;
    let seq = match (number(&params, "seq")?, params.get("id").filter(|id| !id.is_empty())) {
        (Some(seq), None) => seq,
        (None, Some(id)) => {
            state
                .events
                .get(caller.tenant(), id)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no event with id {id:?} in this tenant")))?
                .seq
        }
        _ => return Err(ApiError::new(ErrorCode::InvalidQuery, "give exactly one of seq or id")),
    };
    let tree_size = match number(&params, "tree_size")? {
        Some(size) => size,
        None => latest_size(&state, caller.tenant()).await?,
    };
    Ok(Json(build_inclusion(&state, caller.tenant(), seq, tree_size).await?))
}

async fn consistency_proof(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Proofs)?;
    reject_unknown(&params, &["first", "second"])?;
    let first = number(&params, "first")?.ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "first is required"))?;
    let second = match number(&params, "second")? {
        Some(size) => size,
        None => latest_size(&state, caller.tenant()).await?,
    };
    let hashes = state.events.consistency_proof(caller.tenant(), first, second).await?;
    let first_root = state.events.tree_root(caller.tenant(), first).await?;
    let second_root = state.events.tree_root(caller.tenant(), second).await?;
    Ok(Json(json!({
        "first": first,
        "second": second,
        "hashes": hashes,
        "first_root": first_root,
        "second_root": second_root,
    })))
}

/// `POST /api/v1/export/bundle` `{"since"?, "until"?}`: the evidence bundle (a tar file) of the
/// caller's events in `[since, until)` covered by the latest published checkpoint, in the format
/// `veritrail export-bundle` writes. Signs nothing (the `checkpoint` job does); counts the
/// selection against `limits.max_bundle_events` before any byte is sent, then streams it from the
/// database page by page.
async fn export_bundle(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::JsonBody(body): crate::extract::JsonBody,
) -> Result<axum::response::Response, ApiError> {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    use futures::StreamExt;
    use veritrail_core::transparency::{BundleBuildError, plan_bundle};

    caller.require(Permission::Export)?;
    let Value::Object(members) = &body else {
        return Err(ApiError::new(ErrorCode::InvalidField, "the body is {\"since\"?: time, \"until\"?: time}"));
    };
    if let Some(unknown) = members.keys().find(|key| !["since", "until"].contains(&key.as_str())) {
        return Err(ApiError::new(ErrorCode::InvalidField, format!("unknown field {unknown:?}; use since, until")));
    }
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => {
                chrono::DateTime::parse_from_rfc3339(text).map(|time| Some(time.with_timezone(&chrono::Utc))).map_err(
                    |err| ApiError::new(ErrorCode::InvalidField, format!("{name} {text:?} is not RFC 3339: {err}")),
                )
            }
            Some(_) => Err(ApiError::new(ErrorCode::InvalidField, format!("{name} must be an RFC 3339 string"))),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(ApiError::new(ErrorCode::InvalidField, "since must not be after until"));
    }
    let tenant = caller.tenant();
    let Some(checkpoint) = state.checkpoints.latest_checkpoint(tenant).await? else {
        if state.events.head(tenant).await?.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound, "this tenant has no events yet"));
        }
        return Err(ApiError::new(
            ErrorCode::NoCheckpoint,
            "no signed checkpoint has been published for this tenant yet: the checkpoint job publishes one when the \
             log grows (checkpoints.schedule); retry after its next run",
        ));
    };
    let max = state.limits.max_bundle_events;
    let plan =
        plan_bundle(state.events.as_ref(), &state.log, tenant, &checkpoint, since, until, chrono::Utc::now(), max)
            .await
            .map_err(|err| match err {
                BundleBuildError::TooManyEvents { max } => ApiError::new(
                    ErrorCode::SelectionTooLarge,
                    format!(
                        "the selection holds more than {max} events, the most one bundle may hold \
                     (limits.max_bundle_events): narrow since/until and ask for several bundles"
                    ),
                ),
                BundleBuildError::Store(store) => store.into(),
                other => ApiError::internal(other),
            })?;
    tracing::info!(
        %tenant, by = %caller.label(), events = plan.manifest().event_count, tree_size = checkpoint.tree_size,
        "evidence bundle exported"
    );
    let filename = format!("veritrail-{tenant}-{}.tar", checkpoint.tree_size);
    let length = plan.archive_len();
    let body = plan.stream(state.events.clone()).map(|piece| match piece {
        Ok(piece) => Ok(Bytes::from(piece)),
        Err(error) => {
            // The status line has gone out: cutting the body short is the only signal left (and
            // the archive's announced length tells the client it is incomplete).
            tracing::error!(%error, "evidence bundle stopped");
            Err(std::io::Error::other(error.to_string()))
        }
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
