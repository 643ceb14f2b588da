//! Named sequences on SQLite: one row each, bumped by the single writer.

use rusqlite::params;

use super::tx::SqliteTx;
use crate::{Result, SequenceRecords};

impl SequenceRecords for SqliteTx<'_> {
    fn next_in_sequence(&mut self, name: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "INSERT INTO sequences (name, last) VALUES (?1, 1)
             ON CONFLICT (name) DO UPDATE SET last = last + 1 RETURNING last",
            params![name],
            |r| r.get(0),
        )?)
    }
}
