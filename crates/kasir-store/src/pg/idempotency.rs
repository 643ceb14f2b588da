//! `Idempotency-Key` records in PostgreSQL.

use kasir_domain::Timestamp;

use super::batch::{Param, PUT_IDEMPOTENCY};
use super::tx::PgTx;
use crate::{IdemRecord, IdemState, IdempotencyRecords, Result};

impl IdempotencyRecords for PgTx<'_> {
    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>> {
        let lock = self.write;
        self.before_read("idempotency_keys", Some(&format!("{access_key}\n{key}")), lock)?;
        let sql = format!(
            "SELECT request_hash, state, response_status, response_body, created_at, locked_until
             FROM idempotency_keys WHERE access_key = $1 AND key = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = self.cached_query_opt(&sql, &[&access_key, &key])?;
        Ok(row.map(|r| IdemRecord {
            request_hash: r.get(0),
            state: IdemState::parse(r.get(1)),
            response_status: r.get::<_, Option<i32>>(2).unwrap_or(0) as u16,
            response_body: r.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
            created_at: Timestamp::from_micros(r.get(4)),
            locked_until: Timestamp::from_micros(r.get(5)),
        }))
    }

    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<()> {
        // The key was claimed by this caller (or is being taken over under its row lock), so only this
        // transaction writes it: the upsert can wait with the rest.
        self.hold(
            PUT_IDEMPOTENCY,
            Some(format!("{access_key}\n{key}")),
            vec![
                access_key.into(),
                key.into(),
                rec.request_hash.as_str().into(),
                rec.state.as_str().into(),
                Param::Int4(rec.response_status as i32),
                Param::Bytes(rec.response_body.clone()),
                rec.created_at.as_micros().into(),
                rec.locked_until.as_micros().into(),
            ],
        )
    }

    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool> {
        self.before_write()?;
        let n = self.cached_execute(
            "INSERT INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (access_key, key) DO NOTHING",
            &[
                &access_key,
                &key,
                &rec.request_hash,
                &rec.state.as_str(),
                &(rec.response_status as i32),
                &rec.response_body,
                &rec.created_at.as_micros(),
                &rec.locked_until.as_micros(),
            ],
        )?;
        Ok(n == 1)
    }

    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "DELETE FROM idempotency_keys
             WHERE access_key = $1 AND key = $2 AND state = 'running' AND locked_until = $3",
            &[&access_key, &key, &lease.as_micros()],
        )?;
        Ok(())
    }

    fn idem_sweep(&mut self, created_before: Timestamp, limit: usize) -> Result<usize> {
        self.before_write()?;
        let n = self.cached_execute(
            // The age is checked again on the row deleted: a key taken over after its 24 hours (the
            // claim rewrites the row with a new created_at) while this waited on its lock stays.
            "DELETE FROM idempotency_keys WHERE created_at < $1 AND (access_key, key) IN (
                 SELECT access_key, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            &[&created_before.as_micros(), &(limit as i64)],
        )?;
        Ok(n as usize)
    }
}
