//! Dashboard users and the audit log in PostgreSQL.

use kasir_domain::Timestamp;

use super::tx::{unstorable, PgTx};
use crate::{AuditRecord, Result, StoreError, UserRecord, UserRecords};

fn decode(doc: &str) -> Result<UserRecord> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("dashboard user: {e}")))
}

impl UserRecords for PgTx<'_> {
    fn insert_user(&mut self, user: &UserRecord) -> Result<()> {
        self.before_write()?;
        let doc = serde_json::to_string(user)?;
        self.cached_execute(
            "INSERT INTO dashboard_users (id, account_id, email, doc) VALUES ($1, $2, $3, $4)",
            &[&user.id, &user.account_id, &user.email, &doc],
        )?;
        Ok(())
    }

    fn update_user(&mut self, user: &UserRecord) -> Result<()> {
        self.before_write()?;
        let doc = serde_json::to_string(user)?;
        self.cached_execute("UPDATE dashboard_users SET doc = $2 WHERE id = $1", &[&user.id, &doc])?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>> {
        if unstorable(email) {
            return Ok(None);
        }
        self.before_read("dashboard_users", None, false)?;
        let row = self.cached_query_opt("SELECT doc FROM dashboard_users WHERE email = $1", &[&email])?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    fn users(&mut self) -> Result<Vec<UserRecord>> {
        self.before_read("dashboard_users", None, false)?;
        let rows = self.cached_query("SELECT doc FROM dashboard_users", &[])?;
        let mut users = rows.iter().map(|r| decode(r.get(0))).collect::<Result<Vec<_>>>()?;
        users.sort_by(|a, b| (a.created_at, &a.email).cmp(&(b.created_at, &b.email)));
        Ok(users)
    }

    fn insert_audit(&mut self, e: &AuditRecord) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO audit_log (account_id, actor, action, detail, at) VALUES ($1, $2, $3, $4, $5)",
            &[&e.account_id, &e.actor, &e.action, &e.detail, &e.at.as_micros()],
        )?;
        Ok(())
    }

    fn audit_of(&mut self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>> {
        self.before_read("audit_log", None, false)?;
        let rows = self.cached_query(
            "SELECT account_id, actor, action, detail, at FROM audit_log WHERE account_id = $1 ORDER BY seq DESC LIMIT $2",
            &[&account_id, &(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                account_id: r.get(0),
                actor: r.get(1),
                action: r.get(2),
                detail: r.get(3),
                at: Timestamp::from_micros(r.get(4)),
            })
            .collect())
    }
}
