//! Accounts and API keys in PostgreSQL.

use kasir_domain::{EventSwitches, Timestamp};
use postgres::Row;

use super::tx::{unstorable, PgTx};
use crate::codec::{account_record, key_record, ACCOUNT_COLUMNS};
use crate::{AccountRecord, AccountRecords, KeyRecord, Result};

const KEY_COLUMNS: &str = "SELECT access_key, secret_hash, account_id, mode, created_at, revoked_at FROM api_keys";

fn account_row(r: &Row) -> Result<AccountRecord> {
    let types: String = r.get(6);
    account_record((r.get(0), r.get(1), r.get(2)), r.get(3), r.get(4), r.get(5), &types)
}

fn key_row(r: &Row) -> Result<KeyRecord> {
    key_record((r.get(0), r.get(1), r.get(2)), r.get(3), r.get(4), r.get(5))
}

impl AccountRecords for PgTx<'_> {
    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            &[&id, &name, &now.as_micros()],
        )?;
        Ok(())
    }

    fn first_account(&mut self) -> Result<Option<String>> {
        self.before_read("accounts", None, false)?;
        Ok(self.cached_query_opt("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1", &[])?.map(|r| r.get(0)))
    }

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>> {
        if unstorable(id) {
            return Ok(None);
        }
        self.before_read("accounts", None, false)?;
        let row = self.cached_query_opt(&format!("{ACCOUNT_COLUMNS} WHERE id = $1"), &[&id])?;
        row.map(|r| account_row(&r)).transpose()
    }

    fn accounts(&mut self) -> Result<Vec<AccountRecord>> {
        self.before_read("accounts", None, false)?;
        self.cached_query(&format!("{ACCOUNT_COLUMNS} ORDER BY created_at, id"), &[])?.iter().map(account_row).collect()
    }

    fn rename_account(&mut self, id: &str, name: &str) -> Result<bool> {
        self.before_write()?;
        Ok(self.cached_execute("UPDATE accounts SET name = $2 WHERE id = $1", &[&id, &name])? == 1)
    }

    fn set_webhook_secret(&mut self, id: &str, secret: &str, previous: Option<(&str, Timestamp)>) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE accounts SET webhook_secret = $2, previous_webhook_secret = $3, previous_secret_until = $4 WHERE id = $1",
            &[&id, &secret, &previous.map(|p| p.0), &previous.map(|p| p.1.as_micros())],
        )?;
        Ok(())
    }

    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool> {
        self.before_write()?;
        // Waits for a transaction that set it first, then finds it set.
        let n = self.cached_execute(
            "UPDATE accounts SET webhook_secret = $2 WHERE id = $1 AND webhook_secret IS NULL",
            &[&id, &secret],
        )?;
        Ok(n == 1)
    }

    fn set_event_types(&mut self, id: &str, types: &EventSwitches) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE accounts SET event_types = $2 WHERE id = $1",
            &[&id, &serde_json::to_string(types)?],
        )?;
        Ok(())
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO api_keys (access_key, secret_hash, account_id, mode, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&k.access_key, &k.secret_hash, &k.account_id, &k.mode.as_str(), &k.created_at.as_micros()],
        )?;
        Ok(())
    }

    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>> {
        if unstorable(access_key) {
            return Ok(None);
        }
        self.before_read("api_keys", None, false)?;
        let row = self.cached_query_opt(&format!("{KEY_COLUMNS} WHERE access_key = $1"), &[&access_key])?;
        row.map(|r| key_row(&r)).transpose()
    }

    fn revoke_key(&mut self, access_key: &str, now: Timestamp) -> Result<bool> {
        if unstorable(access_key) {
            return Ok(false);
        }
        self.before_write()?;
        let n = self.cached_execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE access_key = $1 AND revoked_at IS NULL",
            &[&access_key, &now.as_micros()],
        )?;
        Ok(n == 1)
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>> {
        self.before_read("api_keys", None, false)?;
        self.cached_query(&format!("{KEY_COLUMNS} ORDER BY created_at, access_key"), &[])?.iter().map(key_row).collect()
    }
}
