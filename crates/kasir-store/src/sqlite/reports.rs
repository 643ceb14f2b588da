//! The dashboard's searches and counts in SQLite.

use kasir_domain::{Delivery, Payin, Timestamp};
use rusqlite::{params, ToSql};

use super::tx::SqliteTx;
use crate::{Listed, PageRequest, PayinSearch, ReportRecords, Result, Scope};

/// The search's clauses over `?4` onwards (the list's own take `?1` to `?3`); an unset part is NULL.
const SEARCH: &str = "AND (?4 IS NULL OR status = ?4)
     AND (?5 IS NULL OR id = ?5 OR json_extract(data, '$.reference_id') = ?5
          OR lower(json_extract(data, '$.customer_details.email')) = lower(?5))
     AND (?6 IS NULL OR instr(coalesce(json_extract(data, '$.customer_details.phone.number'), '') || ' ' ||
                             coalesce(json_extract(data, '$.payment_method_details.ovo_idr.phone.number'), ''), ?6) > 0)
     AND (?7 IS NULL OR created_at >= ?7)
     AND (?8 IS NULL OR created_at < ?8)";

impl ReportRecords for SqliteTx<'_> {
    fn search_payins(&mut self, scope: &Scope, s: &PayinSearch, page: &PageRequest) -> Listed<Payin> {
        let status = s.status.map(|s| s.as_str());
        let (from, to) = (s.from.map(Timestamp::as_micros), s.to.map(Timestamp::as_micros));
        let args: [&dyn ToSql; 5] = [&status, &s.text, &s.phone_digits, &from, &to];
        self.list("payins", scope, page, SEARCH, &args)
    }

    fn daily_payins(&mut self, scope: &Scope, since: Timestamp, offset_secs: i64) -> Result<Vec<(i64, i64, i64, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT (created_at / 1000000 + ?4) / 86400 AS day, count(*),
                    sum(status = 'succeeded'),
                    sum(CASE WHEN status = 'succeeded' THEN json_extract(data, '$.amount') ELSE 0 END)
             FROM payins WHERE account_id = ?1 AND mode = ?2 AND created_at >= ?3 GROUP BY day ORDER BY day",
        )?;
        let rows = st
            .query_map(params![scope.account_id, scope.mode.as_str(), since.as_micros(), offset_secs], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn refunds_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64> {
        let mut st = self
            .conn
            .prepare_cached("SELECT count(*) FROM refunds WHERE account_id = ?1 AND mode = ?2 AND created_at >= ?3")?;
        Ok(st.query_row(params![scope.account_id, scope.mode.as_str(), since.as_micros()], |r| r.get(0))?)
    }

    // `attempted_at` is RFC 3339 UTC in the stored try; `since` is a whole second, so text order is time
    // order but for the fraction of that one second.
    fn failed_deliveries_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64> {
        let mut st = self.conn.prepare_cached(
            "SELECT count(*) FROM deliveries WHERE account_id = ?1 AND mode = ?2
               AND json_extract(data, '$.succeeded') = 0 AND json_extract(data, '$.attempted_at') >= ?3",
        )?;
        Ok(st.query_row(params![scope.account_id, scope.mode.as_str(), since.to_rfc3339()], |r| r.get(0))?)
    }

    fn recent_deliveries(&mut self, scope: &Scope, limit: usize) -> Result<Vec<Delivery>> {
        self.docs(
            "SELECT data FROM deliveries WHERE account_id = ?1 AND mode = ?2 ORDER BY seq DESC LIMIT ?3",
            &[&scope.account_id, &scope.mode.as_str(), &(limit as i64)],
        )
    }
}
