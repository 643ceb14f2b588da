//! Checkouts in SQLite.

use kasir_domain::{Checkout, CheckoutStatus};
use rusqlite::{params, OptionalExtension};

use super::tx::{constraint, SqliteTx};
use crate::codec::{decode, mode_of};
use crate::{CheckoutRecords, Listed, PageRequest, Result, Scope, StoreError};

impl CheckoutRecords for SqliteTx<'_> {
    fn checkout(&mut self, scope: &Scope, id: &str) -> Result<Option<Checkout>> {
        self.get_doc("checkouts", scope, id)
    }

    fn checkout_of_payin(&mut self, scope: &Scope, payin_id: &str) -> Result<Option<Checkout>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT data FROM checkouts WHERE payin_id = ?1 AND account_id = ?2 AND mode = ?3")?;
        let row: Option<String> =
            st.query_row(params![payin_id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?;
        row.map(decode).transpose()
    }

    fn checkout_by_token(&mut self, token: &str) -> Result<Option<(Scope, Checkout)>> {
        let mut st = self.conn.prepare_cached("SELECT account_id, mode, data FROM checkouts WHERE token = ?1")?;
        let row: Option<(String, String, String)> =
            st.query_row(params![token], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
        let Some((account_id, mode, data)) = row else { return Ok(None) };
        Ok(Some((Scope { account_id, mode: mode_of(&mode)? }, decode(data)?)))
    }

    fn insert_checkout(&mut self, scope: &Scope, c: &Checkout) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO checkouts (id, token, payin_id, account_id, mode, status, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        st.execute(params![
            c.id,
            c.token,
            c.payin,
            scope.account_id,
            scope.mode.as_str(),
            c.status.as_str(),
            c.created_at.as_micros(),
            serde_json::to_string(c)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn update_checkout(&mut self, c: &Checkout) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("UPDATE checkouts SET status = ?2, data = ?3 WHERE id = ?1")?
            .execute(params![c.id, c.status.as_str(), serde_json::to_string(c)?])?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!("checkout {} vanished during an update", c.id)));
        }
        Ok(())
    }

    fn list_checkouts(
        &mut self,
        scope: &Scope,
        status: Option<CheckoutStatus>,
        page: &PageRequest,
    ) -> Listed<Checkout> {
        match status {
            Some(s) => self.list("checkouts", scope, page, "AND status = ?4", &[&s.as_str()]),
            None => self.list("checkouts", scope, page, "", &[]),
        }
    }
}
