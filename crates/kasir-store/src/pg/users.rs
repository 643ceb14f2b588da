//! Dashboard users and the audit log in PostgreSQL.

use kasir_domain::Timestamp;

use super::tx::{unstorable, PgTx};
use crate::codec::decode as decode_doc;
use crate::{AuditRecord, EndpointRecords, Result, Scope, SessionRecord, StoreError, UserRecord, UserRecords};
use kasir_domain::{EventSwitches, WebhookEndpoint};

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
        // In a write, the user is locked until commit: sign-ins at once count every failure, and a
        // code is taken once.
        let lock = self.write;
        self.before_read("dashboard_users", Some(email), lock)?;
        let sql = if lock {
            "SELECT doc FROM dashboard_users WHERE email = $1 FOR UPDATE"
        } else {
            "SELECT doc FROM dashboard_users WHERE email = $1"
        };
        let row = self.cached_query_opt(sql, &[&email])?;
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

    fn user(&mut self, id: &str) -> Result<Option<UserRecord>> {
        if unstorable(id) {
            return Ok(None);
        }
        let lock = self.write;
        self.before_read("dashboard_users", Some(id), lock)?;
        let sql = if lock {
            "SELECT doc FROM dashboard_users WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT doc FROM dashboard_users WHERE id = $1"
        };
        let row = self.cached_query_opt(sql, &[&id])?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.before_write()?;
        let doc = serde_json::to_string(s)?;
        self.cached_execute(
            "INSERT INTO dashboard_sessions (id_hash, user_id, doc) VALUES ($1, $2, $3)",
            &[&s.id_hash, &s.user_id, &doc],
        )?;
        Ok(())
    }

    fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>> {
        if unstorable(id_hash) {
            return Ok(None);
        }
        let lock = self.write;
        self.before_read("dashboard_sessions", Some(id_hash), lock)?;
        let sql = if lock {
            "SELECT doc FROM dashboard_sessions WHERE id_hash = $1 FOR UPDATE"
        } else {
            "SELECT doc FROM dashboard_sessions WHERE id_hash = $1"
        };
        let row = self.cached_query_opt(sql, &[&id_hash])?;
        row.map(|r| decode_doc(r.get(0))).transpose()
    }

    fn update_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.before_write()?;
        let doc = serde_json::to_string(s)?;
        self.cached_execute("UPDATE dashboard_sessions SET doc = $2 WHERE id_hash = $1", &[&s.id_hash, &doc])?;
        Ok(())
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<()> {
        self.before_write()?;
        self.cached_execute("DELETE FROM dashboard_sessions WHERE id_hash = $1", &[&id_hash])?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, user_id: &str) -> Result<u64> {
        self.before_write()?;
        self.cached_execute("DELETE FROM dashboard_sessions WHERE user_id = $1", &[&user_id])
    }

    fn sessions_of(&mut self, user_id: &str) -> Result<Vec<SessionRecord>> {
        self.before_read("dashboard_sessions", None, false)?;
        let rows = self.cached_query("SELECT doc FROM dashboard_sessions WHERE user_id = $1", &[&user_id])?;
        rows.iter().map(|r| decode_doc(r.get(0))).collect()
    }
}

impl EndpointRecords for PgTx<'_> {
    fn insert_endpoint(&mut self, scope: &Scope, e: &WebhookEndpoint) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO webhook_endpoints (id, account_id, mode, created_at, data) VALUES ($1, $2, $3, $4, $5)",
            &[&e.id, &scope.account_id, &scope.mode.as_str(), &e.created_at.as_micros(), &serde_json::to_string(e)?],
        )?;
        Ok(())
    }

    fn endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpoint>> {
        let lock = self.write;
        self.doc("webhook_endpoints", scope, id, lock)
    }

    fn update_endpoint(&mut self, scope: &Scope, e: &WebhookEndpoint) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE webhook_endpoints SET data = $4 WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&e.id, &scope.account_id, &scope.mode.as_str(), &serde_json::to_string(e)?],
        )?;
        Ok(())
    }

    fn delete_endpoint(&mut self, scope: &Scope, id: &str) -> Result<bool> {
        if unstorable(id) {
            return Ok(false);
        }
        self.before_write()?;
        let n = self.cached_execute(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&id, &scope.account_id, &scope.mode.as_str()],
        )?;
        Ok(n == 1)
    }

    fn endpoints(&mut self, scope: &Scope) -> Result<Vec<WebhookEndpoint>> {
        self.docs(
            "webhook_endpoints",
            "SELECT data FROM webhook_endpoints WHERE account_id = $1 AND mode = $2 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str()],
        )
    }

    fn delivery_rules(&mut self, scope: &Scope) -> Result<(EventSwitches, Vec<WebhookEndpoint>)> {
        self.before_read("webhook_endpoints", None, false)?;
        self.before_read("accounts", None, false)?;
        let row = self.cached_query_opt(
            "SELECT event_types, (SELECT coalesce(json_agg(data::json), '[]'::json)::text FROM webhook_endpoints
                                  WHERE account_id = $1 AND mode = $2)
             FROM accounts WHERE id = $1",
            &[&scope.account_id, &scope.mode.as_str()],
        )?;
        let Some(row) = row else { return Ok(Default::default()) };
        Ok((decode_doc(row.get(0))?, decode_doc(row.get(1))?))
    }
}
