//! Named sequences on PostgreSQL: one row each; the row lock orders concurrent transactions, so two
//! processes never get the same number, and a rolled-back transaction's number is given again.

use super::tx::PgTx;
use crate::{Result, SequenceRecords};

impl SequenceRecords for PgTx<'_> {
    fn next_in_sequence(&mut self, name: &str) -> Result<i64> {
        self.before_write()?;
        let row = self.cached_query_one(
            "INSERT INTO sequences (name, last) VALUES ($1, 1)
             ON CONFLICT (name) DO UPDATE SET last = sequences.last + 1 RETURNING last",
            &[&name],
        )?;
        Ok(row.get(0))
    }
}
