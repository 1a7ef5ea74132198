//! The in-memory copies of each tenant and model's vectors that SQLite searches compare.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use crate::rows::db_error;
use crate::search::text_hash_from_db;
use crate::search::vectors::{VectorSet, from_blob};

/// Vector rows read per statement when filling the cache.
const CACHE_PAGE: i64 = 5_000;

/// Each tenant and model's vectors in memory, refreshed incrementally.
#[derive(Default)]
pub(super) struct VectorCache {
    sets: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<CachedVectors>>>>,
}

/// Tenant and model.
type CacheKey = (String, String);

#[derive(Default)]
struct CachedVectors {
    /// The highest `search_vectors.id` read so far.
    last_id: i64,
    set: Arc<VectorSet>,
}

impl VectorCache {
    /// Drops the tenant's sets (every model): the next search reads them from the table again.
    pub(super) fn forget(&self, tenant: &TenantId) {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        sets.retain(|(cached_tenant, _), _| cached_tenant != tenant.as_str());
    }

    /// Returns the tenant and model's vectors, reading the rows added since the last call first.
    pub(super) async fn load(
        &self,
        pool: &SqlitePool,
        tenant: &TenantId,
        model: &str,
    ) -> Result<Arc<VectorSet>, StoreError> {
        let entry = {
            let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
            sets.entry((tenant.as_str().to_owned(), model.to_owned())).or_default().clone()
        };
        // One refresh at a time per tenant and model; searches wait for it rather than read twice.
        let mut cached = entry.lock().await;
        loop {
            let rows = sqlx::query(
                "SELECT id, text_hash, vector FROM search_vectors WHERE tenant = ? AND model = ? AND id > ? \
                 ORDER BY id LIMIT ?",
            )
            .bind(tenant.as_str())
            .bind(model)
            .bind(cached.last_id)
            .bind(CACHE_PAGE)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            let Some(last) = rows.last() else { break };
            let last_id: i64 = last.try_get(0).map_err(db_error)?;
            // Copies the set only if a search still holds the previous version.
            let set = Arc::make_mut(&mut cached.set);
            for row in &rows {
                let hash: Vec<u8> = row.try_get(1).map_err(db_error)?;
                let blob: Vec<u8> = row.try_get(2).map_err(db_error)?;
                set.push(text_hash_from_db(&hash)?, from_blob(&blob)?);
            }
            cached.last_id = last_id;
            if (rows.len() as i64) < CACHE_PAGE {
                break;
            }
        }
        Ok(cached.set.clone())
    }
}
