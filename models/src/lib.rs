//! `veritrail-models`: the learned models of Veritrail, as pure computation.
//!
//! - [`embed`]: the [`embed::Embedder`] trait, a local all-MiniLM-L6-v2 run in-process with candle
//!   ([`embed::LocalEmbedder`]) and any OpenAI-compatible endpoint ([`embed::OpenAiEmbedder`]).
//! - [`chat`]: the [`chat::ChatModel`] trait and an OpenAI-compatible client, for cited answers and
//!   anomaly narratives.
//! - [`fetch`]: where the MiniLM files live, how they are verified (pinned SHA-256) and downloaded.
//! - [`anomaly`]: anomaly detection over actor and tenant windows (robust statistics, linfa
//!   KMeans and DBSCAN), with explanations and feedback.
//!
//! Architecture invariant: no SQL and no HTTP server here. The only network use is as a client
//! (remote models, fetching model files); CPU-heavy inference runs on tokio's blocking pool so
//! it never stalls the async executor.

pub mod anomaly;
pub mod chat;
pub mod embed;
pub mod fetch;
pub mod priority;
