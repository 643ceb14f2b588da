//! Dashboard users and the audit log in SQLite.

use kasir_domain::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::tx::{constraint, SqliteTx};
use crate::{AuditRecord, Result, StoreError, UserRecord, UserRecords};

fn decode(doc: &str) -> Result<UserRecord> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("dashboard user: {e}")))
}

fn encode(user: &UserRecord) -> Result<String> {
    Ok(serde_json::to_string(user)?)
}

impl UserRecords for SqliteTx<'_> {
    fn insert_user(&mut self, user: &UserRecord) -> Result<()> {
        let doc = encode(user)?;
        self.conn
            .execute(
                "INSERT INTO dashboard_users (id, account_id, email, doc) VALUES (?1, ?2, ?3, ?4)",
                params![user.id, user.account_id, user.email, doc],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn update_user(&mut self, user: &UserRecord) -> Result<()> {
        let doc = encode(user)?;
        self.conn.execute("UPDATE dashboard_users SET doc = ?2 WHERE id = ?1", params![user.id, doc])?;
        Ok(())
    }

    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM dashboard_users WHERE email = ?1")?;
        let doc: Option<String> = st.query_row(params![email], |r| r.get(0)).optional()?;
        doc.as_deref().map(decode).transpose()
    }

    fn users(&mut self) -> Result<Vec<UserRecord>> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM dashboard_users")?;
        let docs = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        let mut users = docs.iter().map(|d| decode(d)).collect::<Result<Vec<_>>>()?;
        users.sort_by(|a, b| (a.created_at, &a.email).cmp(&(b.created_at, &b.email)));
        Ok(users)
    }

    fn insert_audit(&mut self, e: &AuditRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit_log (account_id, actor, action, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.account_id, e.actor, e.action, e.detail, e.at.as_micros()],
        )?;
        Ok(())
    }

    fn audit_of(&mut self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT account_id, actor, action, detail, at FROM audit_log WHERE account_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![account_id, limit as i64], |r| {
            Ok(AuditRecord {
                account_id: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                detail: r.get(3)?,
                at: Timestamp::from_micros(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
