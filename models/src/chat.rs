//! Chat completions: the model behind cited answers and anomaly narratives.
//!
//! [`ChatModel`] is the seam callers depend on (`Arc<dyn ChatModel>`); [`OpenAiChat`] talks to any
//! endpoint speaking OpenAI's `POST /chat/completions`, with the same retry policy as the remote
//! embedder. Temperature is fixed at 0: answers about an audit log should be repeatable, not
//! creative.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest,
};
use async_trait::async_trait;

use crate::embed::{RemoteError, client, with_retries};

/// Why a completion could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The endpoint failed (after the retries its error allowed).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The endpoint answered, but with no text (no choices, or a refusal).
    #[error("endpoint returned no text: {0}")]
    Empty(String),
}

/// A model that answers one user message under one system prompt.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The model name, recorded next to whatever it wrote.
    fn model_id(&self) -> &str;

    /// The model's reply to `user`, instructed by `system`.
    async fn complete(&self, system: &str, user: &str) -> Result<String, ChatError>;
}

/// Where the chat endpoint is and how to call it.
#[derive(Debug, Clone)]
pub struct OpenAiChatConfig {
    /// Base URL including the API version, e.g. `https://api.openai.com/v1`;
    /// `/chat/completions` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; local servers usually need none.
    pub api_key: Option<String>,
    /// Model name as the endpoint knows it.
    pub model: String,
    /// Limit for one request, from connecting to the last byte of the answer. Generation is
    /// slower than embedding: allow for the longest answer expected.
    pub timeout: Duration,
    /// Retries after a transient failure (HTTP 429, 5xx, timeout, connection error).
    pub max_retries: u32,
}

impl OpenAiChatConfig {
    /// A configuration with a 120 s timeout and 2 retries.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(120),
            max_retries: 2,
        }
    }
}

/// A [`ChatModel`] backed by an OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    client: Client<OpenAIConfig>,
    config: OpenAiChatConfig,
}

impl OpenAiChat {
    /// Builds the client; nothing is sent until [`ChatModel::complete`].
    pub fn new(config: OpenAiChatConfig) -> Result<Self, ChatError> {
        let client = client(&config.base_url, config.api_key.as_deref(), config.timeout)?;
        Ok(Self { client, config })
    }

    fn request(&self, system: &str, user: &str) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            model: self.config.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(system)),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(user)),
            ],
            temperature: Some(0.0),
            ..Default::default()
        }
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    async fn complete(&self, system: &str, user: &str) -> Result<String, ChatError> {
        let request = self.request(system, user);
        let response = with_retries(self.config.max_retries, "chat request", || async {
            self.client.chat().create(request.clone()).await
        })
        .await?;
        let message = response.choices.into_iter().next().map(|choice| choice.message);
        match message {
            Some(message) => match (message.content, message.refusal) {
                (Some(text), _) if !text.is_empty() => Ok(text),
                (_, Some(refusal)) => Err(ChatError::Empty(format!("refused: {refusal}"))),
                _ => Err(ChatError::Empty("empty message".into())),
            },
            None => Err(ChatError::Empty("no choices".into())),
        }
    }
}
