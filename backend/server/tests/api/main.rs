//! API tests: the real app on port 0 against a fresh database, one test binary.

mod alerts;
mod anomalies;
mod auth;
mod bad_input;
mod cloudtrail;
mod events;
mod expensive;
mod helpers;
mod integrity;
mod jobs;
mod receivers;
mod reports;
mod search;
mod security;
mod stream;
mod transparency;
