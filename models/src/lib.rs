//! `veritrail-models`: the learned models of Veritrail, as pure computation.
//!
//! This crate will hold the embedders (a local all-MiniLM-L6-v2 run with candle, and any
//! OpenAI-compatible endpoint) and the anomaly detectors (linfa clustering and robust
//! statistics). Architecture invariant: no SQL, no HTTP server, no async runtime here; callers
//! decide where the computation runs.
