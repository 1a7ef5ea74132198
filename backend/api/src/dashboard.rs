//! The dashboard: the built single-page app served from a directory next to the API, and the
//! security headers every response carries.
//!
//! Paths under `/api/` never reach the dashboard: an unknown API path is a JSON `404`. Any other
//! path is a file of the build, or `index.html` (the app routes in the browser).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ApiError, ErrorCode};

/// Scripts, styles, connections and images only from this origin; no framing; no inline
/// script. The dashboard needs nothing else (no CDN, no fonts from the network).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the dashboard's fallback to `router`: files of `dir` (when it holds a build) for paths
/// outside `/api/`, a JSON 404 for everything else.
pub fn with_dashboard<S: Clone + Send + Sync + 'static>(router: Router<S>, dir: Option<&Path>) -> Router<S> {
    let index = dir.map(|dir| dir.join("index.html")).filter(|index| index.is_file());
    let dir: Option<PathBuf> = index.as_ref().and(dir).map(Path::to_path_buf);
    router.fallback(move |request: Request| {
        let dir = dir.clone();
        let index = index.clone();
        async move {
            let path = request.uri().path();
            match (dir, index) {
                (Some(dir), Some(index)) if !path.starts_with("/api/") && path != "/api" => {
                    // The build leaves a `.gz` beside each asset (scripts/build-frontend.sh):
                    // served to browsers that take gzip, the plain file to the rest.
                    let files =
                        ServeDir::new(dir).precompressed_gzip().fallback(ServeFile::new(index).precompressed_gzip());
                    match files.oneshot(request).await {
                        Ok(response) => response.into_response(),
                        Err(error) => ApiError::internal(format!("serving the dashboard: {error}")).into_response(),
                    }
                }
                _ => ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response(),
            }
        }
    })
}

/// The security headers of every response (set only when a handler did not set its own).
pub fn security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let headers: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}
