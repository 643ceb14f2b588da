//! The dashboard's searches and counts in PostgreSQL.

use kasir_domain::{Delivery, Payin, Timestamp};
use postgres::types::ToSql;

use super::tx::{unstorable, PgTx};
use crate::{Listed, PageRequest, PayinSearch, ReportRecords, Result, Scope};

/// The search's clauses over `$4` onwards (the list's own take `$1` to `$3`); an unset part is NULL.
const SEARCH: &str = "AND ($4::text IS NULL OR status = $4)
     AND ($5::text IS NULL OR id = $5 OR (data::jsonb ->> 'reference_id') = $5
          OR lower(data::jsonb #>> '{customer_details,email}') = lower($5))
     AND ($6::text IS NULL OR strpos(coalesce(data::jsonb #>> '{customer_details,phone,number}', '') || ' ' ||
                             coalesce(data::jsonb #>> '{payment_method_details,ovo_idr,phone,number}', ''), $6) > 0)
     AND ($7::bigint IS NULL OR created_at >= $7)
     AND ($8::bigint IS NULL OR created_at < $8)";

impl ReportRecords for PgTx<'_> {
    fn search_payins(&mut self, scope: &Scope, s: &PayinSearch, page: &PageRequest) -> Listed<Payin> {
        let status = s.status.map(|s| s.as_str());
        let (from, to) = (s.from.map(Timestamp::as_micros), s.to.map(Timestamp::as_micros));
        let unstorable_text = [&s.text, &s.phone_digits].iter().any(|t| t.as_deref().is_some_and(unstorable));
        let args: [&(dyn ToSql + Sync); 5] = [&status, &s.text, &s.phone_digits, &from, &to];
        self.list("payins", scope, page, SEARCH, &args, unstorable_text)
    }

    fn daily_payins(&mut self, scope: &Scope, since: Timestamp, offset_secs: i64) -> Result<Vec<(i64, i64, i64, i64)>> {
        self.before_read("payins", None, false)?;
        let rows = self.cached_query(
            "SELECT (created_at / 1000000 + $4) / 86400 AS day, count(*),
                    count(*) FILTER (WHERE status = 'succeeded'),
                    coalesce(sum((data::jsonb ->> 'amount')::bigint) FILTER (WHERE status = 'succeeded'), 0)::bigint
             FROM payins WHERE account_id = $1 AND mode = $2 AND created_at >= $3 GROUP BY day ORDER BY day",
            &[&scope.account_id, &scope.mode.as_str(), &since.as_micros(), &offset_secs],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    fn refunds_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64> {
        self.before_read("refunds", None, false)?;
        let row = self.cached_query_one(
            "SELECT count(*) FROM refunds WHERE account_id = $1 AND mode = $2 AND created_at >= $3",
            &[&scope.account_id, &scope.mode.as_str(), &since.as_micros()],
        )?;
        Ok(row.get(0))
    }

    // `attempted_at` is RFC 3339 UTC in the stored try; `since` is a whole second, so text order is time
    // order but for the fraction of that one second.
    fn failed_deliveries_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64> {
        self.before_read("deliveries", None, false)?;
        let row = self.cached_query_one(
            "SELECT count(*) FROM deliveries WHERE account_id = $1 AND mode = $2
               AND (data::jsonb ->> 'succeeded') = 'false' AND (data::jsonb ->> 'attempted_at') >= $3",
            &[&scope.account_id, &scope.mode.as_str(), &since.to_rfc3339()],
        )?;
        Ok(row.get(0))
    }

    fn recent_deliveries(&mut self, scope: &Scope, limit: usize) -> Result<Vec<Delivery>> {
        self.docs(
            "deliveries",
            "SELECT data FROM deliveries WHERE account_id = $1 AND mode = $2 ORDER BY seq DESC LIMIT $3",
            &[&scope.account_id, &scope.mode.as_str(), &(limit as i64)],
        )
    }
}
