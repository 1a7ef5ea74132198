//! `veritrail-reports`: what compliance staff take away from Veritrail.
//!
//! - [`export`]: CSV and JSON Lines exports of the log, streamed page by page (the API route and
//!   `veritrail export` share it);
//! - [`request`]: reading report and schedule requests, refusing bad ones whole;
//! - [`data`]: what a report is made from (checkpoint, events, anomalies, verification);
//! - [`summary`]: the summary paragraph, extractive, optionally rewritten by a chat model;
//! - [`pdf`]: page layout and vector charts over printpdf, embedded fonts, attached files;
//! - [`document`]: the report files (PDF, CSV) of each kind;
//! - [`service`]: [`Reports`], the worker and the schedules, shared by the API, CLI and jobs.

pub mod data;
pub mod document;
pub mod export;
pub mod pdf;
pub mod request;
pub mod service;
pub mod summary;

pub use service::{Reports, ReportsParts, ScheduleError};
