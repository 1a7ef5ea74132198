//! Which models search uses, from the configuration: the embedder (local MiniLM, an
//! OpenAI-compatible endpoint, or none) and the optional chat model for generated answers.
//!
//! Without the local model files the server still starts: it logs that semantic search is off,
//! serves keyword search, and the `embed-backfill` job loads the model as soon as the files
//! appear (`veritrail models fetch`), then back-fills the vectors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use veritrail_models::chat::{ChatModel, OpenAiChat, OpenAiChatConfig};
use veritrail_models::embed::{Embedder, LocalEmbedder, OpenAiEmbedder, OpenAiEmbedderConfig};
use veritrail_models::fetch::{default_model_dir, model_present};
use veritrail_search::EmbedderSlot;

use crate::config::{Config, EmbeddingProvider};
use veritrail_core::search::INDEX_DIMENSIONS;

/// The models search runs with, and where the local model is expected.
#[derive(Clone)]
pub struct SearchModels {
    pub embedder: EmbedderSlot,
    pub chat: Option<Arc<dyn ChatModel>>,
    /// The directory the local model is loaded from when it appears (`None` unless the provider
    /// is `local`).
    pub local_model_dir: Option<PathBuf>,
}

impl SearchModels {
    /// Builds the models named by `config`. Fails only on an unusable remote configuration; a
    /// missing or broken local model leaves semantic search off.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let settings = &config.search.embedding;
        let (embedder, local_model_dir) = match settings.provider {
            EmbeddingProvider::None => {
                tracing::info!("semantic search is off (search.embedding.provider = none); keyword search only");
                (EmbedderSlot::default(), None)
            }
            EmbeddingProvider::Local => {
                let dir = local_model_dir(config);
                (EmbedderSlot::new(load_local(&dir)), Some(dir))
            }
            EmbeddingProvider::Openai => {
                let mut remote = OpenAiEmbedderConfig::new(&settings.base_url, &settings.model, INDEX_DIMENSIONS);
                remote.api_key = settings.api_key.exposed();
                remote.request_dimensions = settings.request_dimensions;
                remote.timeout = Duration::from_secs(settings.timeout_seconds.max(1));
                remote.max_retries = settings.max_retries;
                let embedder: Arc<dyn Embedder> = Arc::new(OpenAiEmbedder::new(remote)?);
                tracing::info!(model = %settings.model, base_url = %settings.base_url, "semantic search uses a remote embedding model");
                (EmbedderSlot::new(Some(embedder)), None)
            }
        };
        let chat = chat_model(config)?;
        Ok(Self { embedder, chat, local_model_dir })
    }

    /// Loads the local model if it is configured, not loaded yet, and its files are now present.
    /// Returns whether a model was loaded by this call.
    pub async fn load_if_appeared(&self) -> bool {
        let Some(dir) = &self.local_model_dir else {
            return false;
        };
        if self.embedder.is_loaded() || !model_present(dir) {
            return false;
        }
        let dir = dir.clone();
        let loaded = tokio::task::spawn_blocking(move || load_local(&dir)).await.ok().flatten();
        match loaded {
            Some(embedder) => {
                self.embedder.set(embedder);
                tracing::info!("the embedding model appeared; semantic search is on");
                true
            }
            None => false,
        }
    }

    /// What `/readyz` says about semantic search.
    pub fn status(&self) -> serde_json::Value {
        match self.embedder.get() {
            Some(embedder) => serde_json::json!({"semantic": "on", "model": embedder.model_id()}),
            None => {
                let reason = match &self.local_model_dir {
                    Some(dir) => format!(
                        "no embedding model in {}: run `veritrail models fetch`; keyword search only",
                        dir.display()
                    ),
                    None => "search.embedding.provider = none; keyword search only".to_owned(),
                };
                serde_json::json!({"semantic": "off", "reason": reason})
            }
        }
    }
}

/// The configured local model directory, else the default cache location.
pub fn local_model_dir(config: &Config) -> PathBuf {
    let configured = config.search.embedding.model_dir.trim();
    if configured.is_empty() { default_model_dir() } else { PathBuf::from(configured) }
}

fn load_local(dir: &std::path::Path) -> Option<Arc<dyn Embedder>> {
    if !model_present(dir) {
        tracing::warn!(
            model_dir = %dir.display(),
            "semantic search is off: the embedding model is not installed (run `veritrail models fetch`); \
             keyword search works, and vectors are back-filled once the model appears"
        );
        return None;
    }
    match LocalEmbedder::load(dir) {
        Ok(embedder) => {
            tracing::info!(model_dir = %dir.display(), "loaded the local embedding model");
            Some(Arc::new(embedder))
        }
        Err(err) => {
            tracing::error!(model_dir = %dir.display(), error = %err, "the embedding model could not be loaded; semantic search is off");
            None
        }
    }
}

fn chat_model(config: &Config) -> anyhow::Result<Option<Arc<dyn ChatModel>>> {
    let settings = &config.search.chat;
    if settings.base_url.trim().is_empty() {
        return Ok(None);
    }
    let mut remote = OpenAiChatConfig::new(&settings.base_url, &settings.model);
    remote.api_key = settings.api_key.exposed();
    remote.timeout = Duration::from_secs(settings.timeout_seconds.max(1));
    remote.max_retries = settings.max_retries;
    tracing::info!(model = %settings.model, base_url = %settings.base_url, "answers are generated by a chat model");
    Ok(Some(Arc::new(OpenAiChat::new(remote)?)))
}
