//! Route groups, merged in [`crate::router`].

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod anomalies;
pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod health;
pub(crate) mod jobs;
mod params;
pub(crate) mod reports;
pub(crate) mod search;
pub(crate) mod stats;
pub(crate) mod stream;
pub(crate) mod transparency;
pub(crate) mod verify;
