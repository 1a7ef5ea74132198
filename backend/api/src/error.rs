//! The one error shape of the API: `{"error": {"code": "<stable_snake_case>", "message": "..."}}`.
//!
//! Codes form a closed table ([`ErrorCode`]); each has exactly one HTTP status. Internal details of
//! 5xx errors never reach the client: they travel in a response extension to the logging
//! middleware ([`log_server_errors`]).

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use veritrail_core::store::{AppendError, StoreError};
use veritrail_core::validate::ValidationError;

veritrail_core::wire_enum! {
    /// Every error code the API can answer with.
    pub enum ErrorCode ("error code") {
        MalformedJson => "malformed_json",
        InvalidQuery => "invalid_query",
        Unauthorized => "unauthorized",
        /// Sign-in refused: unknown user, wrong password or disabled user, told apart for nobody.
        InvalidCredentials => "invalid_credentials",
        Forbidden => "forbidden",
        NotFound => "not_found",
        MethodNotAllowed => "method_not_allowed",
        IdempotencyConflict => "idempotency_conflict",
        /// Only a dead-lettered delivery can be retried.
        DeliveryNotDead => "delivery_not_dead",
        /// The report is not done (pending, running or failed): nothing to download yet.
        ReportNotReady => "report_not_ready",
        /// The `checkpoint` job has not yet published a signed checkpoint to prove against.
        NoCheckpoint => "no_checkpoint",
        PayloadTooLarge => "payload_too_large",
        DetailsTooLarge => "details_too_large",
        BatchTooLarge => "batch_too_large",
        UnsupportedMediaType => "unsupported_media_type",
        InvalidField => "invalid_field",
        DuplicateId => "duplicate_id",
        /// The selection holds more events than one answer may (an evidence bundle): narrow it.
        SelectionTooLarge => "selection_too_large",
        /// A user (or other named item) of that name exists already.
        AlreadyExists => "already_exists",
        Overloaded => "overloaded",
        /// Too many attempts (failed sign-ins) from this address or for this account.
        RateLimited => "rate_limited",
        Internal => "internal",
        Unavailable => "unavailable",
        /// An expensive request did not produce its answer within the configured time.
        TimedOut => "timed_out",
    }
}

impl ErrorCode {
    /// Returns the HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::InvalidQuery => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdempotencyConflict
            | Self::DeliveryNotDead
            | Self::AlreadyExists
            | Self::ReportNotReady
            | Self::NoCheckpoint => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::DetailsTooLarge | Self::BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidField | Self::DuplicateId | Self::SelectionTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded | Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Methods to list in an `Allow` header (405 only).
    pub allow: Option<&'static str>,
    /// What went wrong inside, for the log only.
    pub internal: Option<String>,
    /// Seconds to wait before trying again (`429 rate_limited`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Builds an error with a message for the client.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), allow: None, internal: None, retry_after: None }
    }

    /// Builds a 405 listing the methods the resource does support.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                ErrorCode::MethodNotAllowed,
                format!("this resource supports only {allow}; audit events are never changed or deleted"),
            )
        }
    }

    /// Builds an opaque 500 that keeps the cause for the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal, "internal error; the cause was logged")
        }
    }
}

/// The cause of a server error, handed from the response to the logging middleware.
#[derive(Debug, Clone)]
struct InternalCause(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code.as_str(), "message": self.message}});
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some(allow) = self.allow {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        match self.code {
            ErrorCode::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorCode::Overloaded => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ErrorCode::RateLimited => {
                let seconds = self.retry_after.unwrap_or(60).to_string();
                if let Ok(value) = HeaderValue::from_str(&seconds) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        if let Some(cause) = self.internal {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Overloaded => {
                Self::new(ErrorCode::Overloaded, "too many requests are waiting to be written; retry after a second")
            }
            StoreError::TenantOverloaded { limit } => Self::new(
                ErrorCode::Overloaded,
                format!("this tenant already has {limit} requests waiting to be written; retry after a second"),
            ),
            StoreError::InvalidInput(message) => Self::new(ErrorCode::InvalidField, message),
            StoreError::Database { .. } | StoreError::Closed => Self {
                internal: Some(err.to_string()),
                ..Self::new(ErrorCode::Unavailable, "the database is unavailable; nothing was stored")
            },
            StoreError::Incompatible(_) | StoreError::Corrupt(_) => Self::internal(err),
        }
    }
}

impl From<AppendError> for ApiError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::IdConflict { .. } => {
                Self::new(ErrorCode::IdempotencyConflict, format!("{err}; nothing of this request was stored"))
            }
            AppendError::DuplicateInRequest { .. } => Self::new(ErrorCode::DuplicateId, err.to_string()),
            AppendError::Store(store) => store.into(),
        }
    }
}

/// Converts a validation error, prefixing the field path (e.g. `events[3].`).
pub fn validation_error(err: ValidationError, prefix: &str) -> ApiError {
    let code = if err.code == "details_too_large" { ErrorCode::DetailsTooLarge } else { ErrorCode::InvalidField };
    let message = if prefix.is_empty() { err.message } else { format!("{prefix}{}: {}", err.field, err.message) };
    ApiError::new(code, message)
}

/// Logs every 5xx answer with its cause.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if response.status().is_server_error() {
        let cause = response.extensions().get::<InternalCause>().map_or("unknown", |cause| cause.0.as_str());
        tracing::error!(%method, %path, status = response.status().as_u16(), cause, "request failed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert!(names.iter().all(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
