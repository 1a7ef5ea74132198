//! Embeddings from any endpoint speaking OpenAI's `POST /embeddings`: OpenAI itself, Azure's
//! OpenAI-compatible `/v1` surface, Ollama, vLLM, LocalAI and the like.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput, EncodingFormat};
use async_trait::async_trait;

use super::{EmbedError, Embedder, RemoteError, client, with_retries};

/// Where the embedding endpoint is and how to call it.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedderConfig {
    /// Base URL including the API version, e.g. `https://api.openai.com/v1` or
    /// `http://localhost:11434/v1`; `/embeddings` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; local servers usually need none.
    pub api_key: Option<String>,
    /// Model name as the endpoint knows it, e.g. `text-embedding-3-small`.
    pub model: String,
    /// Width every returned vector must have.
    pub dimensions: usize,
    /// Ask the endpoint for `dimensions` (the `dimensions` request field). Only models that can
    /// shorten their vectors accept it (OpenAI's `text-embedding-3-*`); others reject the field.
    pub request_dimensions: bool,
    /// Limit for one request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Retries after a transient failure (HTTP 429, 5xx, timeout, connection error).
    pub max_retries: u32,
}

impl OpenAiEmbedderConfig {
    /// A configuration with a 30 s timeout, 3 retries, and `dimensions` not sent.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, dimensions: usize) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            dimensions,
            request_dimensions: false,
            timeout: Duration::from_secs(30),
            max_retries: 3,
        }
    }
}

/// An [`Embedder`] backed by an OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    config: OpenAiEmbedderConfig,
}

impl OpenAiEmbedder {
    /// Builds the client; nothing is sent until [`Embedder::embed`].
    pub fn new(config: OpenAiEmbedderConfig) -> Result<Self, EmbedError> {
        let client = client(&config.base_url, config.api_key.as_deref(), config.timeout)?;
        Ok(Self { client, config })
    }

    fn request(&self, texts: &[String]) -> Result<CreateEmbeddingRequest, EmbedError> {
        let dimensions = if self.config.request_dimensions {
            let n = u32::try_from(self.config.dimensions)
                .map_err(|_| RemoteError::InvalidRequest(format!("{} dimensions", self.config.dimensions)))?;
            Some(n)
        } else {
            None
        };
        Ok(CreateEmbeddingRequest {
            model: self.config.model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            encoding_format: Some(EncodingFormat::Float),
            user: None,
            dimensions,
        })
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn dimensions(&self) -> usize {
        self.config.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.request(texts)?;
        let response = with_retries(self.config.max_retries, "embedding request", || async {
            self.client.embeddings().create(request.clone()).await
        })
        .await?;

        // The API documents `index` as the position of the input; answers need not be in order.
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        if response.data.len() != texts.len() {
            return Err(EmbedError::Response(format!("{} embeddings for {} inputs", response.data.len(), texts.len())));
        }
        for item in response.data {
            if item.embedding.len() != self.config.dimensions {
                return Err(EmbedError::Dimensions { expected: self.config.dimensions, got: item.embedding.len() });
            }
            let slot = usize::try_from(item.index)
                .ok()
                .and_then(|i| slots.get_mut(i))
                .ok_or_else(|| EmbedError::Response(format!("index {} out of range", item.index)))?;
            if slot.replace(normalised(item.embedding)).is_some() {
                return Err(EmbedError::Response(format!("index {} answered twice", item.index)));
            }
        }
        // Every slot is filled: as many items as inputs, none out of range, none twice.
        Ok(slots.into_iter().flatten().collect())
    }
}

/// OpenAI's vectors are already unit length; other servers' may not be. Normalising again is
/// cheap and keeps the trait's promise.
fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
