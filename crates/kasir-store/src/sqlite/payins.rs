//! Payins and their payment attempts in SQLite.

use kasir_domain::{Payin, PayinStatus, PaymentAttempt};
use rusqlite::{params, OptionalExtension};

use super::doc_cache::WrittenDoc;
use super::tx::{constraint, SqliteTx};
use crate::codec::{decode, mode_of, status_str};
use crate::{AttemptRecords, Listed, PageRequest, PayinRecords, Result, Scope, StoreError};

impl PayinRecords for SqliteTx<'_> {
    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>> {
        self.get_doc("payins", scope, id)
    }

    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>> {
        let mut st =
            self.conn.prepare_cached("SELECT data FROM payins WHERE id = ?1 AND account_id = ?2 AND mode = ?3")?;
        Ok(st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?)
    }

    fn payin_anywhere(&mut self, id: &str) -> Result<Option<(Scope, Payin)>> {
        let mut st = self.conn.prepare_cached("SELECT account_id, mode, data FROM payins WHERE id = ?1")?;
        let row: Option<(String, String, String)> =
            st.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
        let Some((account_id, mode, data)) = row else { return Ok(None) };
        Ok(Some((Scope { account_id, mode: mode_of(&mode)? }, decode(data)?)))
    }

    fn insert_payin(&mut self, scope: &Scope, p: &Payin) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO payins (id, account_id, mode, status, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let data = serde_json::to_string(p)?;
        st.execute(params![
            p.id,
            scope.account_id,
            scope.mode.as_str(),
            p.status.as_str(),
            p.created_at.as_micros(),
            data
        ])
        .map_err(constraint)?;
        if let Some(w) = &mut self.written {
            w.push(WrittenDoc { id: p.id.clone(), scope: Some((scope.account_id.clone(), scope.mode)), data });
        }
        Ok(())
    }

    fn update_payin(&mut self, p: &Payin) -> Result<()> {
        let mut st = self.conn.prepare_cached("UPDATE payins SET status = ?2, data = ?3 WHERE id = ?1")?;
        let data = serde_json::to_string(p)?;
        let n = st.execute(params![p.id, p.status.as_str(), data])?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!("payin {} vanished during an update", p.id)));
        }
        if let Some(w) = &mut self.written {
            w.push(WrittenDoc { id: p.id.clone(), scope: None, data });
        }
        Ok(())
    }

    fn list_payins(&mut self, scope: &Scope, status: Option<PayinStatus>, page: &PageRequest) -> Listed<Payin> {
        // Two statements rather than `?4 IS NULL OR …`, so each uses its own index.
        match status {
            Some(s) => self.list("payins", scope, page, "AND status = ?4", &[&s.as_str()]),
            None => self.list("payins", scope, page, "", &[]),
        }
    }
}

impl AttemptRecords for SqliteTx<'_> {
    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>> {
        self.get_doc("payment_attempts", scope, id)
    }

    fn insert_attempt(&mut self, scope: &Scope, a: &PaymentAttempt) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO payment_attempts (id, payin_id, account_id, mode, status, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            a.id,
            a.payin,
            scope.account_id,
            scope.mode.as_str(),
            status_str(&a.status)?,
            a.created_at.as_micros(),
            serde_json::to_string(a)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn update_attempt(&mut self, a: &PaymentAttempt) -> Result<()> {
        let mut st = self.conn.prepare_cached("UPDATE payment_attempts SET status = ?2, data = ?3 WHERE id = ?1")?;
        st.execute(params![a.id, status_str(&a.status)?, serde_json::to_string(a)?]).map_err(constraint)?;
        Ok(())
    }

    fn attempts_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<PaymentAttempt>> {
        self.docs(
            "SELECT data FROM payment_attempts WHERE payin_id = ?1 AND account_id = ?2 AND mode = ?3 ORDER BY seq",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )
    }
}
