//! Refunds in PostgreSQL.

use kasir_domain::Refund;

use super::batch::UPDATE_REFUND;
use super::tx::{unstorable, PgTx};
use crate::{CreatedRange, Listed, PageRequest, RefundRecords, Result, Scope};

impl RefundRecords for PgTx<'_> {
    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>> {
        self.doc("refunds", scope, id, false)
    }

    fn insert_refund(&mut self, scope: &Scope, r: &Refund) -> Result<()> {
        // Its conflict (a payin already refunded) is the caller's answer: it goes out at once.
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO refunds (id, payin_id, account_id, mode, status, created_at, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &r.id,
                &r.payin,
                &scope.account_id,
                &scope.mode.as_str(),
                &r.status.as_str(),
                &r.created_at.as_micros(),
                &serde_json::to_string(r)?,
            ],
        )?;
        Ok(())
    }

    fn update_refund(&mut self, r: &Refund) -> Result<()> {
        self.hold_update(UPDATE_REFUND, &r.id, r.status.as_str(), serde_json::to_string(r)?)
    }

    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>> {
        self.docs(
            "refunds",
            "SELECT data FROM refunds WHERE payin_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn pending_refunds(&mut self, scope: &Scope) -> Result<Vec<Refund>> {
        self.docs(
            "refunds",
            "SELECT data FROM refunds WHERE account_id = $1 AND mode = $2 AND status = 'pending' ORDER BY seq",
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
            "AND ($4::TEXT IS NULL OR payin_id = $4) AND ($5::BIGINT IS NULL OR created_at >= $5)
             AND ($6::BIGINT IS NULL OR created_at < $6)",
            &[&payin_id, &from, &to],
            payin_id.is_some_and(unstorable),
        )
    }
}
