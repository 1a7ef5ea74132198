//! `veritrail-search`: natural-language search over the audit log.
//!
//! - [`indexer`]: the work of the `embed-backfill` job — search documents for new events, then
//!   vectors for texts that have none, in batches, off the ingest path;
//! - [`engine`]: a question in, ranked events out — query understanding
//!   ([`veritrail_core::query`]), full-text candidates (words plus the API verbs of everyday
//!   verbs, [`expand`]) and vector candidates fused by score ([`fusion`]), and an answer that
//!   cites the events it used ([`answer`]).
//!
//! Architecture invariant: this crate sees storage only through the core ports
//! ([`veritrail_core::search::SearchIndex`], [`veritrail_core::store::EventLog`]) and models only
//! through the traits of `veritrail-models`, so the same code runs behind the API, the CLI and
//! the evaluation harness.

pub mod action_match;
pub mod answer;
pub mod engine;
pub mod expand;
pub mod fusion;
pub mod indexer;
pub mod slot;

pub use engine::{SearchEngine, SearchError, SearchRequest, SearchResponse};
pub use slot::EmbedderSlot;
