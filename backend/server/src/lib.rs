//! `veritrail-server`: the `veritrail` binary's library half: configuration, wiring and the
//! commands. `main.rs` only parses the command line and calls in here.

pub mod alert_key;
pub mod anomaly_job;
pub mod app;
pub mod bundle_cmd;
pub mod config;
pub mod eval_anomalies;
pub mod eval_search;
pub mod export_cmd;
pub mod ingest_cmd;
pub mod jobs;
pub mod keys;
pub mod log_key;
pub mod report_cmd;
pub mod search_cmd;
pub mod search_setup;
pub mod secret;
pub mod strength;
pub mod telemetry;
pub mod users;
pub mod verify_cmd;
pub mod witness;
