//! The error type shared by all embedders.

use std::path::PathBuf;

use super::RemoteError;

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable, or its contents are not what the loader expects.
    #[error("cannot load model file {path}: {reason}")]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The tokenizer refused an input.
    #[error("tokenizer failed: {0}")]
    Tokenize(String),
    /// The forward pass or pooling failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// A vector does not have the configured width (a misconfigured remote model, usually).
    #[error("embedding has {got} dimensions, expected {expected}")]
    Dimensions {
        /// The configured width.
        expected: usize,
        /// The width received.
        got: usize,
    },
    /// The number of vectors, or their `index` fields, do not match the inputs sent.
    #[error("endpoint answered with an unusable embedding list: {0}")]
    Response(String),
    /// The remote endpoint failed (after the retries its error allowed).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The blocking worker running the model panicked or was cancelled.
    #[error("embedding worker stopped: {0}")]
    Worker(String),
}
