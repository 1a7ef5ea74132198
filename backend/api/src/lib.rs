//! `veritrail-api`: the HTTP API. The only crate that knows HTTP and JSON shapes.
//!
//! [`router`] is pure: the `veritrail` binary and the tests build the same app from an
//! [`AppState`] holding the storage ports.

pub mod auth;
pub mod dashboard;
pub mod drain;
pub mod error;
pub mod expensive;
pub mod extract;
mod routes;
pub mod stream;

pub use routes::auth::LoginThrottle;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::http::Request;
use axum::middleware;
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;
use veritrail_core::integrity::IntegrityMonitor;
use veritrail_core::jobs::JobRunner;
use veritrail_core::store::{ApiKeyStore, CheckpointStore, EventLog, Readiness};
use veritrail_core::transparency::LogIdentity;
use veritrail_core::validate::Limits;

use crate::auth::KeyCache;

/// Request limits of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// Page size when a list request names none.
    pub default_list_limit: u32,
    /// Largest page size; larger requests are capped to it.
    pub max_list_limit: u32,
    /// Most events in one evidence bundle (`POST /api/v1/export/bundle`); a larger selection is
    /// refused before anything is sent.
    pub max_bundle_events: u64,
    /// Limits on each event.
    #[serde(flatten)]
    pub event: Limits,
    /// The expensive routes: how many run at once, and for how long (a table: after the plain
    /// values, as TOML wants).
    pub expensive: expensive::ExpensiveLimits,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_events: 1_000,
            default_list_limit: 100,
            max_list_limit: 1_000,
            max_bundle_events: 100_000,
            expensive: expensive::ExpensiveLimits::default(),
            event: Limits::default(),
        }
    }
}

impl ApiLimits {
    /// Refuses limits the API cannot work with.
    pub fn check(&self) -> Result<(), String> {
        if self.max_bundle_events == 0 {
            return Err("limits.max_bundle_events must be at least 1".to_owned());
        }
        self.expensive.check()
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub events: Arc<dyn EventLog>,
    pub keys: Arc<dyn ApiKeyStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub readiness: Arc<dyn Readiness>,
    /// The log's signing identity (checkpoints are signed in-process; the key never leaves).
    pub log: Arc<LogIdentity>,
    /// The continuous verification job's state, shared with the scheduled runs.
    pub integrity: Arc<IntegrityMonitor>,
    /// Runs background jobs on demand.
    pub jobs: Arc<dyn JobRunner>,
    /// Natural-language search over the log.
    pub search: veritrail_search::SearchEngine,
    /// What anomaly detection found and the feedback on it.
    pub anomalies: Arc<dyn veritrail_core::anomalies::AnomalyStore>,
    /// Alert channels, rules and the outbox; also told of every append (event rules).
    pub alerting: Arc<veritrail_alerts::Alerting>,
    /// How long a false-positive verdict suppresses the same subject and reason.
    pub false_positive_suppression: chrono::Duration,
    pub limits: ApiLimits,
    pub key_cache: KeyCache,
    /// Dashboard users and their sessions.
    pub users: Arc<dyn veritrail_core::users::UserStore>,
    pub sessions: auth::SessionSettings,
    /// Failed sign-ins per address and account.
    pub login_throttle: Arc<routes::auth::LoginThrottle>,
    /// Wakes the live streams after appends and counts open streams.
    pub stream_hub: Arc<stream::StreamHub>,
    /// Reports, their worker and schedules.
    pub reports: Arc<veritrail_reports::Reports>,
    /// Told of every append, so background work yields to ingest while it is busy.
    pub activity: Arc<veritrail_core::activity::IngestActivity>,
}

/// Builds the whole HTTP app: the API, and the dashboard from `dashboard_dir` when it holds a
/// build.
pub fn router(state: AppState, dashboard_dir: Option<&std::path::Path>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let gate = expensive::Gate::new(state.limits.expensive.clone());
    // Merged first: where a path has cheap and expensive methods (`/api/v1/reports`), the cheap
    // routes merged after them keep the path's 405 answer outside the gate.
    let expensive_routes = Router::new()
        .merge(routes::verify::expensive_router())
        .merge(routes::search::expensive_router())
        .merge(routes::export::expensive_router())
        .merge(routes::transparency::expensive_router())
        .merge(routes::reports::expensive_router())
        .route_layer(middleware::from_fn_with_state(expensive::Gated { app: state.clone(), gate }, expensive::admit));
    let api = Router::new()
        .merge(expensive_routes)
        .merge(routes::events::router())
        .merge(routes::transparency::router())
        .merge(routes::jobs::router())
        .merge(routes::search::router())
        .merge(routes::anomalies::router())
        .merge(routes::alerts::router())
        .merge(routes::health::router())
        .merge(routes::auth::router())
        .merge(routes::accounts::router())
        .merge(routes::stream::router())
        .merge(routes::stats::router())
        .merge(routes::reports::router());
    dashboard::security_headers(dashboard::with_dashboard(api, dashboard_dir))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(drain::drain_unread_body))
        .layer(middleware::from_fn(error::log_server_errors))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %request.method(), route)
        }))
        .with_state(state)
}
