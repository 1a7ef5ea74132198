//! `veritrail-core`: the domain of Veritrail, free of I/O.
//!
//! - [`event`]: what clients submit and what the log stores;
//! - [`activity`]: how busy the write path is, so background work can yield to it;
//! - [`validate`]: untrusted JSON to a [`event::NewEvent`], with precise errors;
//! - [`canonical`]: RFC 8785 canonical JSON, the bytes every hash covers;
//! - [`hash`]: SHA-256 digests;
//! - [`chain`]: leaf and chain hashes, format version 1;
//! - [`verify`]: finding the first bad seq of a chain;
//! - [`store`]: the storage traits the backends implement;
//! - [`auth`]: API keys and scopes;
//! - [`anomalies`], [`alerting`]: anomalies with their feedback, alert channels, rules and the
//!   delivery outbox, and their storage traits.
//!
//! Architecture invariant: this crate knows nothing about HTTP, SQL or an async runtime.

pub mod access;
pub mod activity;
pub mod alerting;
pub mod anomalies;
pub mod auth;
pub mod bundle;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod cloudtrail;
pub mod event;
pub mod hash;
pub mod integrity;
pub mod jobs;
pub mod merkle;
pub mod query;
pub mod render;
pub mod reports;
pub mod search;
pub mod store;
pub mod transparency;
pub mod users;
pub mod validate;
pub mod verify;
mod wire_enum;
