//! Payins and their payment attempts in PostgreSQL.

use kasir_domain::{Payin, PayinStatus, PaymentAttempt};

use super::batch::{INSERT_ATTEMPT, INSERT_PAYIN, UPDATE_ATTEMPT, UPDATE_PAYIN};
use super::tx::{unstorable, PgTx};
use crate::codec::{decode, mode_of, status_str};
use crate::{AttemptRecords, Listed, PageRequest, PayinRecords, Result, Scope};

impl PayinRecords for PgTx<'_> {
    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>> {
        let lock = self.write;
        self.doc("payins", scope, id, lock)
    }

    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>> {
        if unstorable(id) {
            return Ok(None);
        }
        self.before_read("payins", Some(id), false)?;
        let row = self.cached_query_opt(
            "SELECT data FROM payins WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&id, &scope.account_id, &scope.mode.as_str()],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn payin_anywhere(&mut self, id: &str) -> Result<Option<(Scope, Payin)>> {
        if unstorable(id) {
            return Ok(None);
        }
        self.before_read("payins", Some(id), false)?;
        let Some(r) = self.cached_query_opt("SELECT account_id, mode, data FROM payins WHERE id = $1", &[&id])? else {
            return Ok(None);
        };
        let mode: String = r.get(1);
        Ok(Some((Scope { account_id: r.get(0), mode: mode_of(&mode)? }, decode(r.get(2))?)))
    }

    fn insert_payin(&mut self, scope: &Scope, p: &Payin) -> Result<()> {
        self.hold(
            INSERT_PAYIN,
            Some(p.id.clone()),
            vec![
                p.id.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                p.status.as_str().into(),
                p.created_at.as_micros().into(),
                serde_json::to_string(p)?.into(),
            ],
        )
    }

    fn update_payin(&mut self, p: &Payin) -> Result<()> {
        // Every change to a payin first reads it under lock in this transaction, so the row is there.
        self.hold_update(UPDATE_PAYIN, &p.id, p.status.as_str(), serde_json::to_string(p)?)
    }

    fn list_payins(&mut self, scope: &Scope, status: Option<PayinStatus>, page: &PageRequest) -> Listed<Payin> {
        self.list(
            "payins",
            scope,
            page,
            "AND ($4::TEXT IS NULL OR status = $4)",
            &[&status.map(PayinStatus::as_str)],
            false,
        )
    }
}

impl AttemptRecords for PgTx<'_> {
    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>> {
        self.doc("payment_attempts", scope, id, false)
    }

    fn insert_attempt(&mut self, scope: &Scope, a: &PaymentAttempt) -> Result<()> {
        self.hold(
            INSERT_ATTEMPT,
            Some(a.id.clone()),
            vec![
                a.id.as_str().into(),
                a.payin.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                status_str(&a.status)?.into(),
                a.created_at.as_micros().into(),
                serde_json::to_string(a)?.into(),
            ],
        )?;
        // A payin that already has a live attempt answers with a conflict, which the caller turns into
        // the payin's state error; in a transaction that has read the payin, it must come back here. A
        // payin created by this same transaction has no other attempt, so its insert can wait.
        if self.began {
            self.flush()?;
        }
        Ok(())
    }

    fn update_attempt(&mut self, a: &PaymentAttempt) -> Result<()> {
        self.hold_update(UPDATE_ATTEMPT, &a.id, &status_str(&a.status)?, serde_json::to_string(a)?)
    }

    fn attempts_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<PaymentAttempt>> {
        if unstorable(payin_id) {
            return Ok(Vec::new());
        }
        self.docs(
            "payment_attempts",
            "SELECT data FROM payment_attempts WHERE payin_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )
    }
}
