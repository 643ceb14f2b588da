//! Refunds in SQLite.

use kasir_domain::Refund;
use rusqlite::params;

use super::tx::{constraint, SqliteTx};
use crate::{CreatedRange, Listed, PageRequest, RefundRecords, Result, Scope};

impl RefundRecords for SqliteTx<'_> {
    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>> {
        self.get_doc("refunds", scope, id)
    }

    fn insert_refund(&mut self, scope: &Scope, r: &Refund) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO refunds (id, payin_id, account_id, mode, status, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            r.id,
            r.payin,
            scope.account_id,
            scope.mode.as_str(),
            r.status.as_str(),
            r.created_at.as_micros(),
            serde_json::to_string(r)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn update_refund(&mut self, r: &Refund) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE refunds SET status = ?2, data = ?3 WHERE id = ?1")?
            .execute(params![r.id, r.status.as_str(), serde_json::to_string(r)?])
            .map_err(constraint)?;
        Ok(())
    }

    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>> {
        self.docs(
            "SELECT data FROM refunds WHERE payin_id = ?1 AND account_id = ?2 AND mode = ?3 ORDER BY seq",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn pending_refunds(&mut self, scope: &Scope) -> Result<Vec<Refund>> {
        self.docs(
            "SELECT data FROM refunds WHERE account_id = ?1 AND mode = ?2 AND status = 'pending' ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str()],
        )
    }

    fn list_refunds(
        &mut self,
        scope: &Scope,
        payin_id: Option<&str>,
        created: &CreatedRange,
        page: &PageRequest,
    ) -> Listed<Refund> {
        let (from, to) = (created.from.map(|t| t.as_micros()), created.to.map(|t| t.as_micros()));
        self.list(
            "refunds",
            scope,
            page,
            "AND (?4 IS NULL OR payin_id = ?4) AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)",
            &[&payin_id, &from, &to],
        )
    }
}
