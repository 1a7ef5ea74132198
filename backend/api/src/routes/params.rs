//! Query-string helpers shared by the routes: unknown parameters and malformed numbers are a 400
//! that names them.

use std::collections::HashMap;

use crate::error::{ApiError, ErrorCode};

/// Query parameters as received.
pub(crate) type Params = HashMap<String, String>;

/// Refuses parameters other than `known`.
pub(crate) fn reject_unknown(params: &Params, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("unknown query parameter {unknown:?}; use {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Reads an optional non-negative integer parameter.
pub(crate) fn number(params: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .filter(|value| !value.is_empty())
        .map(|value| {
            value.parse::<u64>().map_err(|_| {
                ApiError::new(ErrorCode::InvalidQuery, format!("{name}={value:?} must be a non-negative integer"))
            })
        })
        .transpose()
}

/// Reads an optional `true`/`false` parameter.
pub(crate) fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::new(ErrorCode::InvalidQuery, format!("{name}={other:?} must be true or false"))),
    }
}
