//! Text embeddings: one trait, two implementations.
//!
//! Callers hold an `Arc<dyn Embedder>` and never learn where the vectors come from: the local
//! MiniLM model ([`LocalEmbedder`]) or an OpenAI-compatible endpoint ([`OpenAiEmbedder`]). Every
//! implementation returns one L2-normalised vector per input, in input order, so cosine
//! similarity is a plain dot product downstream.

mod error;
mod lanes;
mod local;
mod openai;
mod pooling;
mod remote;

pub use error::EmbedError;
pub use local::{LocalEmbedder, MAX_TOKENS};
pub use openai::{OpenAiEmbedder, OpenAiEmbedderConfig};
pub use remote::RemoteError;
pub(crate) use remote::{client, error_chain, with_retries};

use async_trait::async_trait;

/// Width of an all-MiniLM-L6-v2 vector.
pub const MINILM_DIMENSIONS: usize = 384;

/// Model id reported by [`LocalEmbedder`]; stored next to every vector so vectors of different
/// models are never compared.
pub const MINILM_MODEL_ID: &str = "all-MiniLM-L6-v2";

/// Turns texts into unit-length vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identifies the model (and so the vector space) the vectors belong to.
    fn model_id(&self) -> &str;

    /// Length of every vector this embedder returns.
    fn dimensions(&self) -> usize;

    /// One L2-normalised vector per text, in the order of `texts`. An empty slice gives an
    /// empty result without touching the model.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// As [`Embedder::embed`], for background work such as the back-fill: an embedder that
    /// shares limited compute runs it behind interactive calls (a question must never wait for
    /// a batch of the back-fill). Callers keep `texts` small, so that work can stop between
    /// calls. By default the same as [`Embedder::embed`].
    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts).await
    }

    /// Cores of this machine a call keeps busy while it runs: the threads of a local model, 0
    /// for a remote endpoint. Background work that paces itself counts its time this many times.
    fn compute_threads(&self) -> usize {
        0
    }
}
