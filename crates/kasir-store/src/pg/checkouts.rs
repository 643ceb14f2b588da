//! Checkouts in PostgreSQL. Their writes are rare (a create, an expiry), so they go out at once rather
//! than held for a batch.

use kasir_domain::{Checkout, CheckoutStatus};

use super::tx::{unstorable, PgTx};
use crate::codec::{decode, mode_of};
use crate::{CheckoutRecords, Listed, PageRequest, Result, Scope, StoreError};

impl CheckoutRecords for PgTx<'_> {
    fn checkout(&mut self, scope: &Scope, id: &str) -> Result<Option<Checkout>> {
        self.doc("checkouts", scope, id, false)
    }

    fn checkout_of_payin(&mut self, scope: &Scope, payin_id: &str) -> Result<Option<Checkout>> {
        if unstorable(payin_id) {
            return Ok(None);
        }
        self.before_read("checkouts", None, false)?;
        let row = self.cached_query_opt(
            "SELECT data FROM checkouts WHERE payin_id = $1 AND account_id = $2 AND mode = $3",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    fn checkout_by_token(&mut self, token: &str) -> Result<Option<(Scope, Checkout)>> {
        if unstorable(token) {
            return Ok(None);
        }
        self.before_read("checkouts", None, false)?;
        let Some(r) =
            self.cached_query_opt("SELECT account_id, mode, data FROM checkouts WHERE token = $1", &[&token])?
        else {
            return Ok(None);
        };
        let mode: String = r.get(1);
        Ok(Some((Scope { account_id: r.get(0), mode: mode_of(&mode)? }, decode(r.get(2))?)))
    }

    fn insert_checkout(&mut self, scope: &Scope, c: &Checkout) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO checkouts (id, token, payin_id, account_id, mode, status, created_at, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &c.id,
                &c.token,
                &c.payin,
                &scope.account_id,
                &scope.mode.as_str(),
                &c.status.as_str(),
                &c.created_at.as_micros(),
                &serde_json::to_string(c)?,
            ],
        )?;
        Ok(())
    }

    fn update_checkout(&mut self, c: &Checkout) -> Result<()> {
        self.before_write()?;
        let n = self.cached_execute(
            "UPDATE checkouts SET status = $2, data = $3 WHERE id = $1",
            &[&c.id, &c.status.as_str(), &serde_json::to_string(c)?],
        )?;
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
        self.list(
            "checkouts",
            scope,
            page,
            "AND ($4::TEXT IS NULL OR status = $4)",
            &[&status.map(CheckoutStatus::as_str)],
            false,
        )
    }
}
