//! `Idempotency-Key` records in SQLite.

use kasir_domain::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::tx::SqliteTx;
use crate::{IdemRecord, IdemState, IdempotencyRecords, Result};

impl SqliteTx<'_> {
    /// Writes the record with `verb` (`INSERT OR REPLACE`, `INSERT OR IGNORE`); returns the rows written.
    fn idem_write(&self, verb: &str, access_key: &str, key: &str, rec: &IdemRecord) -> Result<usize> {
        let mut st = self.conn.prepare_cached(&format!(
            "{verb} INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))?;
        Ok(st.execute(params![
            access_key,
            key,
            rec.request_hash,
            rec.state.as_str(),
            rec.response_status,
            rec.response_body,
            rec.created_at.as_micros(),
            rec.locked_until.as_micros()
        ])?)
    }
}

impl IdempotencyRecords for SqliteTx<'_> {
    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT request_hash, state, response_status, response_body, created_at, locked_until
             FROM idempotency_keys WHERE access_key = ?1 AND key = ?2",
        )?;
        let rec = st
            .query_row(params![access_key, key], |r| {
                Ok(IdemRecord {
                    request_hash: r.get(0)?,
                    state: IdemState::parse(&r.get::<_, String>(1)?),
                    response_status: r.get::<_, Option<u16>>(2)?.unwrap_or(0),
                    response_body: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                    created_at: Timestamp::from_micros(r.get(4)?),
                    locked_until: Timestamp::from_micros(r.get(5)?),
                })
            })
            .optional()?;
        Ok(rec)
    }

    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<()> {
        self.idem_write("INSERT OR REPLACE", access_key, key, rec).map(drop)
    }

    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool> {
        Ok(self.idem_write("INSERT OR IGNORE", access_key, key, rec)? == 1)
    }

    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "DELETE FROM idempotency_keys
             WHERE access_key = ?1 AND key = ?2 AND state = 'running' AND locked_until = ?3",
        )?;
        st.execute(params![access_key, key, lease.as_micros()])?;
        Ok(())
    }

    fn idem_sweep(&mut self, created_before: Timestamp, limit: usize) -> Result<usize> {
        let mut st = self.conn.prepare_cached(
            "DELETE FROM idempotency_keys WHERE created_at < ?1 AND rowid IN (
                 SELECT rowid FROM idempotency_keys WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        )?;
        Ok(st.execute(params![created_before.as_micros(), limit as i64])?)
    }
}
