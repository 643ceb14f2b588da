//! Dashboard users and the audit log in SQLite.

use kasir_domain::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::tx::{constraint, SqliteTx};
use crate::codec::decode as decode_doc;
use crate::{AuditRecord, EndpointRecords, Result, Scope, SessionRecord, StoreError, UserRecord, UserRecords};
use kasir_domain::{EventSwitches, WebhookEndpoint};

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

    fn user(&mut self, id: &str) -> Result<Option<UserRecord>> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM dashboard_users WHERE id = ?1")?;
        let doc: Option<String> = st.query_row(params![id], |r| r.get(0)).optional()?;
        doc.as_deref().map(decode).transpose()
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        let doc = serde_json::to_string(s)?;
        self.conn
            .execute(
                "INSERT INTO dashboard_sessions (id_hash, user_id, doc) VALUES (?1, ?2, ?3)",
                params![s.id_hash, s.user_id, doc],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM dashboard_sessions WHERE id_hash = ?1")?;
        let doc: Option<String> = st.query_row(params![id_hash], |r| r.get(0)).optional()?;
        doc.map(decode_doc).transpose()
    }

    fn update_session(&mut self, s: &SessionRecord) -> Result<()> {
        let doc = serde_json::to_string(s)?;
        self.conn.execute("UPDATE dashboard_sessions SET doc = ?2 WHERE id_hash = ?1", params![s.id_hash, doc])?;
        Ok(())
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<()> {
        self.conn.execute("DELETE FROM dashboard_sessions WHERE id_hash = ?1", params![id_hash])?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, user_id: &str) -> Result<u64> {
        Ok(self.conn.execute("DELETE FROM dashboard_sessions WHERE user_id = ?1", params![user_id])? as u64)
    }

    fn sessions_of(&mut self, user_id: &str) -> Result<Vec<SessionRecord>> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM dashboard_sessions WHERE user_id = ?1")?;
        let docs = st.query_map(params![user_id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        docs.into_iter().map(decode_doc).collect()
    }
}

impl EndpointRecords for SqliteTx<'_> {
    fn insert_endpoint(&mut self, scope: &Scope, e: &WebhookEndpoint) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO webhook_endpoints (id, account_id, mode, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    e.id,
                    scope.account_id,
                    scope.mode.as_str(),
                    e.created_at.as_micros(),
                    serde_json::to_string(e)?
                ],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpoint>> {
        self.get_doc("webhook_endpoints", scope, id)
    }

    fn update_endpoint(&mut self, scope: &Scope, e: &WebhookEndpoint) -> Result<()> {
        self.conn.execute(
            "UPDATE webhook_endpoints SET data = ?4 WHERE id = ?1 AND account_id = ?2 AND mode = ?3",
            params![e.id, scope.account_id, scope.mode.as_str(), serde_json::to_string(e)?],
        )?;
        Ok(())
    }

    fn delete_endpoint(&mut self, scope: &Scope, id: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM webhook_endpoints WHERE id = ?1 AND account_id = ?2 AND mode = ?3",
            params![id, scope.account_id, scope.mode.as_str()],
        )?;
        Ok(n == 1)
    }

    fn endpoints(&mut self, scope: &Scope) -> Result<Vec<WebhookEndpoint>> {
        self.docs(
            "SELECT data FROM webhook_endpoints WHERE account_id = ?1 AND mode = ?2 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str()],
        )
    }

    fn delivery_rules(&mut self, scope: &Scope) -> Result<(EventSwitches, Vec<WebhookEndpoint>)> {
        let mut st = self.conn.prepare_cached(
            "SELECT event_types, (SELECT json_group_array(json(data)) FROM webhook_endpoints
                                  WHERE account_id = ?1 AND mode = ?2)
             FROM accounts WHERE id = ?1",
        )?;
        let row: Option<(String, String)> =
            st.query_row(params![scope.account_id, scope.mode.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let Some((switches, endpoints)) = row else { return Ok(Default::default()) };
        Ok((decode_doc(switches)?, decode_doc(endpoints)?))
    }
}
