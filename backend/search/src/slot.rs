//! The embedder currently in use, which may appear after start-up.
//!
//! A server started without the model files serves keyword search; once the files are fetched
//! the `embed-backfill` job loads the model into the slot and from then on searches are hybrid.

use std::sync::{Arc, RwLock};

use veritrail_models::embed::Embedder;

/// A shared, replaceable `Option<Arc<dyn Embedder>>`.
#[derive(Clone, Default)]
pub struct EmbedderSlot {
    inner: Arc<RwLock<Option<Arc<dyn Embedder>>>>,
}

impl EmbedderSlot {
    /// A slot holding `embedder`.
    pub fn new(embedder: Option<Arc<dyn Embedder>>) -> Self {
        Self { inner: Arc::new(RwLock::new(embedder)) }
    }

    /// The embedder, if one is loaded.
    pub fn get(&self) -> Option<Arc<dyn Embedder>> {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Installs `embedder` (the model appeared).
    pub fn set(&self, embedder: Arc<dyn Embedder>) {
        *self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(embedder);
    }

    pub fn is_loaded(&self) -> bool {
        self.get().is_some()
    }
}

impl std::fmt::Debug for EmbedderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let model = self.get().map(|embedder| embedder.model_id().to_owned());
        f.debug_struct("EmbedderSlot").field("model", &model).finish()
    }
}
