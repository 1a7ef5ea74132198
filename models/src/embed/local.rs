//! all-MiniLM-L6-v2 run in-process on the CPU with candle.
//!
//! The model is a 6-layer BERT; a sentence vector is the attention-mask mean of its token vectors,
//! L2-normalised (see [`super::pooling`]). The tokenizer file as published pads every input to
//! 128 tokens, which makes short audit sentences about 8× slower; it is switched to padding to the
//! longest input of each batch, and inputs are truncated at 256 tokens like sentence-transformers.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::lanes::Lanes;
use super::pooling::sentence_vectors;
use super::{EmbedError, Embedder, MINILM_MODEL_ID};

/// Inputs longer than this many tokens (including `[CLS]` and `[SEP]`) are cut, as
/// sentence-transformers' `max_seq_length` does for this model.
pub const MAX_TOKENS: usize = 256;

/// Texts per forward pass. Larger batches gain little on a few cores (STACK.md: 163/s at 32,
/// 172/s at 128) and pad more when lengths vary.
const BATCH_SIZE: usize = 32;

/// Texts per forward pass on the background lane: small, so that a question waits for at most
/// one such batch before the back-fill steps aside (see [`super::lanes`]).
const BACKGROUND_BATCH_SIZE: usize = 16;

/// Files [`LocalEmbedder::load`] reads from the model directory.
const CONFIG_FILE: &str = "config.json";
const TOKENIZER_FILE: &str = "tokenizer.json";
const WEIGHTS_FILE: &str = "model.safetensors";

/// all-MiniLM-L6-v2 on the CPU. Cheap to clone (the model is shared).
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
    /// Candle's CPU kernels and the tokenizer parallelise with rayon; pools of our own bound
    /// how many cores embedding may take, whatever else the process runs on rayon's global pool,
    /// and keep questions from queueing behind the back-fill.
    lanes: Lanes,
}

impl LocalEmbedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, using one
    /// thread per available core.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::load_with_threads(dir, threads)
    }

    /// As [`LocalEmbedder::load`], with inference limited to `threads` threads (at least one).
    pub fn load_with_threads(dir: &Path, threads: usize) -> Result<Self, EmbedError> {
        let config_path = dir.join(CONFIG_FILE);
        let config: Config = serde_json::from_slice(&read(&config_path)?)
            .map_err(|e| EmbedError::Load { path: config_path.clone(), reason: e.to_string() })?;
        let tokenizer = load_tokenizer(&dir.join(TOKENIZER_FILE))?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let load_error = |e: candle_core::Error| EmbedError::Load { path: weights_path.clone(), reason: e.to_string() };
        let device = Device::Cpu;
        // Buffered rather than memory-mapped: mapping is an unsafe API and the file is only 90 MB.
        let weights =
            VarBuilder::from_buffered_safetensors(read(&weights_path)?, DType::F32, &device).map_err(load_error)?;
        let model = BertModel::load(weights, &config).map_err(load_error)?;

        let lanes = Lanes::new(threads)?;
        Ok(Self { inner: Arc::new(Inner { model, tokenizer, dimensions: config.hidden_size, lanes }) })
    }

    /// Embeds `texts` on the calling thread (blocking; for benchmarks and the command line), on
    /// the interactive lane. Async callers use [`Embedder::embed`], which runs this on tokio's
    /// blocking pool.
    pub fn embed_blocking(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.inner.embed(texts)
    }

    /// As [`LocalEmbedder::embed_blocking`], on the background lane (see
    /// [`Embedder::embed_background`]).
    pub fn embed_background_blocking(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.inner.embed_background(texts)
    }
}

impl Inner {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.lanes.interactive(|| {
            let mut vectors = Vec::with_capacity(texts.len());
            for batch in texts.chunks(BATCH_SIZE) {
                vectors.extend(self.embed_batch(batch)?);
            }
            Ok(vectors)
        })
    }

    /// Batch by batch, each behind any question being embedded.
    fn embed_background(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BACKGROUND_BATCH_SIZE) {
            vectors.extend(self.lanes.background(|| self.embed_batch(batch))?);
        }
        Ok(vectors)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(texts.len() * width);
        let mut mask = Vec::with_capacity(texts.len() * width);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let device = &self.model.device;
            let ids = Tensor::from_vec(ids, (texts.len(), width), device)?;
            let mask = Tensor::from_vec(mask, (texts.len(), width), device)?;
            // Single-segment inputs: every token type is 0.
            let token_types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
            sentence_vectors(&hidden, &mask)
        };
        let vectors = run().map_err(|e| EmbedError::Inference(e.to_string()))?;
        if let Some(v) = vectors.iter().find(|v| v.len() != self.dimensions) {
            return Err(EmbedError::Dimensions { expected: self.dimensions, got: v.len() });
        }
        Ok(vectors)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        MINILM_MODEL_ID
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.off_the_runtime(texts, Inner::embed).await
    }

    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.off_the_runtime(texts, Inner::embed_background).await
    }

    fn compute_threads(&self) -> usize {
        self.inner.lanes.threads()
    }
}

/// [`Inner::embed`] or [`Inner::embed_background`].
type Lane = fn(&Inner, &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

impl LocalEmbedder {
    /// Runs `lane` on tokio's blocking pool: inference takes whole cores for a while.
    async fn off_the_runtime(&self, texts: &[String], lane: Lane) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = Arc::clone(&self.inner);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            lane(&inner, &refs)
        })
        .await
        .map_err(|e| EmbedError::Worker(e.to_string()))?
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| EmbedError::Load { path: path.to_owned(), reason: e.to_string() })
}

/// The published tokenizer, with its fixed 128-token padding replaced by per-batch padding and
/// truncation set to [`MAX_TOKENS`].
fn load_tokenizer(path: &Path) -> Result<Tokenizer, EmbedError> {
    let load_error = |reason: String| EmbedError::Load { path: path.to_owned(), reason };
    let mut tokenizer = Tokenizer::from_bytes(read(path)?).map_err(|e| load_error(e.to_string()))?;
    // Keep the file's pad token and id; change only how far to pad.
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
        .map_err(|e| load_error(e.to_string()))?;
    Ok(tokenizer)
}
