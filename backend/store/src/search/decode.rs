//! Reading index rows the same way on both backends.

use sqlx::{ColumnIndex, Decode, Row, Type};
use veritrail_core::search::{SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::widening::ScoredText;
use super::{seq_from_db, text_hash_from_db};
use crate::rows::db_error;

/// The columns the index reads, by position, from a row of either backend.
pub(super) trait IndexColumns {
    /// A document's seq.
    fn seq(&self, idx: usize) -> Result<u64, StoreError>;

    /// A 32-byte text hash.
    fn text_hash(&self, idx: usize) -> Result<TextHash, StoreError>;

    /// A score as the database computed it.
    fn score(&self, idx: usize) -> Result<f64, StoreError>;

    /// A `(seq, score)` row as a hit.
    fn scored_hit(&self) -> Result<SearchHit, StoreError> {
        Ok(SearchHit { seq: self.seq(0)?, score: self.score(1)? })
    }

    /// A `(text_hash, score)` row.
    fn scored_text(&self) -> Result<ScoredText, StoreError> {
        Ok(ScoredText { hash: self.text_hash(0)?, score: self.score(1)? })
    }
}

impl<R> IndexColumns for R
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    f64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn seq(&self, idx: usize) -> Result<u64, StoreError> {
        seq_from_db(self.try_get(idx).map_err(db_error)?)
    }

    fn text_hash(&self, idx: usize) -> Result<TextHash, StoreError> {
        let hash: Vec<u8> = self.try_get(idx).map_err(db_error)?;
        text_hash_from_db(&hash)
    }

    fn score(&self, idx: usize) -> Result<f64, StoreError> {
        self.try_get(idx).map_err(db_error)
    }
}
