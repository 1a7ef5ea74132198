//! Accounts of a tenant, managed by its admins: dashboard users (`/api/v1/users`) and API keys
//! (`/api/v1/keys`). Everything here is scoped to the caller's tenant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use veritrail_core::access::{Permission, Role};
use veritrail_core::auth::{ApiKey, Scopes, generate_key_secret, new_api_key};
use veritrail_core::event::TenantId;
use veritrail_core::users::{User, UserError, check_password, check_username, hash_password};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}/disable", post(disable_user))
        .route("/api/v1/users/{id}/enable", post(enable_user))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", delete(revoke_key))
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::Exists(_) => ApiError::new(ErrorCode::AlreadyExists, error.to_string()),
            UserError::Store(store) => store.into(),
        }
    }
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidField, format!("{field}: {message}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    role: String,
    password: String,
}

async fn list_users(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    let users = state.users.list_users(Some(caller.tenant())).await?;
    Ok(Json(json!({"users": users})))
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Admin)?;
    let body: NewUserBody = serde_json::from_value(body).map_err(|error| invalid("body", error))?;
    check_username(&body.username).map_err(|error| invalid("username", error))?;
    let role: Role = body.role.parse().map_err(|error| invalid("role", error))?;
    check_password(&body.password).map_err(|error| invalid("password", error))?;
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|error| ApiError::internal(format!("password hashing failed: {error}")))?
        .map_err(ApiError::internal)?;
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: caller.tenant().clone(),
        username: body.username,
        role,
        disabled: false,
        created_at: veritrail_core::event::normalize_time(chrono::Utc::now()),
    };
    state.users.create_user(&user, &hash).await?;
    tracing::info!(tenant = %user.tenant, username = %user.username, role = %role, by = %caller.label(), "user created");
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn set_disabled(state: &AppState, caller: &Caller, id: &str, disabled: bool) -> Result<Json<User>, ApiError> {
    caller.require(Permission::Admin)?;
    if !state.users.set_disabled(caller.tenant(), id, disabled).await? {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no user {id:?}")));
    }
    let user = state.users.get_user(caller.tenant(), id).await?;
    let user = user.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no user {id:?}")))?;
    tracing::info!(tenant = %user.tenant, username = %user.username, disabled, by = %caller.label(), "user changed");
    Ok(Json(user))
}

async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    set_disabled(&state, &caller, &id, true).await
}

async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    set_disabled(&state, &caller, &id, false).await
}

/// A key as the API shows it: scopes as a list, never the secret or its hash.
fn key_view(key: &ApiKey) -> Value {
    let scopes = key.scopes.to_string();
    let scopes: Vec<&str> = scopes.split(',').filter(|scope| !scope.is_empty()).collect();
    json!({"id": key.id, "name": key.name, "tenant": key.tenant, "scopes": scopes,
           "created_at": key.created_at, "revoked_at": key.revoked_at})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    name: String,
    scopes: Vec<String>,
}

/// The tenant's keys its admin manages: operator keys are the command line's, whoever's tenant
/// they were created in.
async fn tenant_keys(state: &AppState, tenant: &TenantId) -> Result<Vec<ApiKey>, ApiError> {
    let keys = state.keys.list_keys(Some(tenant)).await?;
    Ok(keys.into_iter().filter(|key| key.scopes.grantable_by_tenant()).collect())
}

async fn list_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    let keys = tenant_keys(&state, caller.tenant()).await?;
    Ok(Json(json!({"keys": keys.iter().map(key_view).collect::<Vec<_>>()})))
}

async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Admin)?;
    let body: NewKeyBody = serde_json::from_value(body).map_err(|error| invalid("body", error))?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid("name", "1 to 100 characters, no control characters"));
    }
    let scopes: Scopes = body.scopes.join(",").parse().map_err(|error| invalid("scopes", error))?;
    if !scopes.grantable_by_tenant() {
        return Err(invalid("scopes", "the operator scope reaches every tenant: only the command line grants it"));
    }
    let secret = generate_key_secret().map_err(ApiError::internal)?;
    let (key, key_hash) = new_api_key(caller.tenant().clone(), name, scopes, &secret);
    state.keys.create_key(&key, &key_hash).await?;
    tracing::info!(tenant = %key.tenant, key_id = %key.id, scopes = %key.scopes, by = %caller.label(), "API key created");
    Ok((StatusCode::CREATED, Json(json!({"key": key_view(&key), "secret": secret}))).into_response())
}

async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::Admin)?;
    // Keys are revoked by id across tenants in the store: look the id up in this tenant first.
    let owned = tenant_keys(&state, caller.tenant()).await?.into_iter().any(|key| key.id == id);
    if !owned || !state.keys.revoke_key(&id).await? {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no active key {id:?}")));
    }
    tracing::info!(tenant = %caller.tenant(), key_id = %id, by = %caller.label(), "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
