//! The embedding watermark (`IndexProgress::embedded`), moved the same way on both backends: to
//! the first use of the oldest text without a vector, or to `indexed_until` when every text has
//! one.

use veritrail_core::event::TenantId;
use veritrail_core::search::{PendingText, TextHash};
use veritrail_core::store::StoreError;

use super::embedded_until;

/// A text without a vector for a model, with the seq of its first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnembeddedText {
    pub first_seq: u64,
    pub text_hash: TextHash,
    pub text: String,
}

impl From<UnembeddedText> for PendingText {
    fn from(text: UnembeddedText) -> Self {
        PendingText { text_hash: text.text_hash, text: text.text }
    }
}

/// One backend's queries on the progress rows, on one connection.
pub(super) trait ProgressRows {
    /// The first seq without a document (`search_progress`; 0 for a tenant without documents).
    async fn indexed_until(&mut self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// The model's embedding watermark (`search_embedding_progress`; 0 when there is none yet).
    async fn embedded_until(&mut self, tenant: &TenantId, model: &str) -> Result<u64, StoreError>;

    /// Moves the embedding watermark forward to `until` (never back).
    async fn raise_embedded_until(&mut self, tenant: &TenantId, model: &str, until: u64) -> Result<(), StoreError>;

    /// The oldest `limit` distinct texts first used at or after seq `from` that have no vector for
    /// `model`, with the seq of their first use. Walks `search_texts` in order of first use, so it
    /// stops after `limit` misses.
    async fn unembedded_texts(
        &mut self,
        tenant: &TenantId,
        model: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<UnembeddedText>, StoreError>;
}

/// The texts waiting for a vector after the watermark (at most `limit`), and where the watermark
/// can move to when that is forward of where it is.
pub(super) async fn pending_texts(
    rows: &mut impl ProgressRows,
    tenant: &TenantId,
    model: &str,
    limit: u32,
) -> Result<(Vec<UnembeddedText>, Option<u64>), StoreError> {
    let watermark = rows.embedded_until(tenant, model).await?;
    let end = rows.indexed_until(tenant).await?;
    let found = rows.unembedded_texts(tenant, model, watermark, limit).await?;
    // Documents and vectors are never removed, so what this read saw stays true.
    let reached = embedded_until(found.first().map(|text| text.first_seq), end);
    Ok((found, (reached > watermark).then_some(reached)))
}

/// Moves the watermark past the documents whose texts now have vectors.
pub(super) async fn advance(rows: &mut impl ProgressRows, tenant: &TenantId, model: &str) -> Result<(), StoreError> {
    if let (_, Some(reached)) = pending_texts(rows, tenant, model, 1).await? {
        rows.raise_embedded_until(tenant, model, reached).await?;
    }
    Ok(())
}
