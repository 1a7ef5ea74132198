//! Signed checkpoints: one row per published tree size per tenant, never replaced.

mod postgres;
mod sqlite;

use veritrail_core::store::{StoreError, StoredCheckpoint};

pub use postgres::PostgresCheckpoints;
pub use sqlite::SqliteCheckpoints;

use crate::columns::Columns;
use crate::rows::{hash_column, seq_from_db};

/// The columns every checkpoint query selects.
const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, note, created_at";

fn decode_checkpoint(row: &impl Columns) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        tree_size: seq_from_db("checkpoint tree_size", row.int("tree_size")?)?,
        root_hash: hash_column(row, "root_hash")?,
        note: row.text("note")?,
        created_at: row.time("created_at")?,
    })
}
