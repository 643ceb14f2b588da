//! Accounts and API keys in PostgreSQL.

use kasir_domain::{EventSwitches, Timestamp};
use postgres::Row;

use super::tx::{unstorable, PgTx};
use crate::codec::key_record;
use crate::{AccountRecord, AccountRecords, KeyRecord, Result};

const KEY_COLUMNS: &str = "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys";

fn key_row(r: &Row) -> Result<KeyRecord> {
    key_record(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
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
        self.before_read("accounts", None, false)?;
        let Some(r) = self.cached_query_opt(
            "SELECT id, webhook_secret, previous_webhook_secret, previous_secret_until, event_types
             FROM accounts WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let prev: Option<String> = r.get(2);
        let until: Option<i64> = r.get(3);
        let types: String = r.get(4);
        Ok(Some(AccountRecord {
            id: r.get(0),
            webhook_secret: r.get(1),
            previous_webhook_secret: prev.zip(until.map(Timestamp::from_micros)),
            event_types: serde_json::from_str(&types)?,
        }))
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

    fn keys(&mut self) -> Result<Vec<KeyRecord>> {
        self.before_read("api_keys", None, false)?;
        self.cached_query(&format!("{KEY_COLUMNS} ORDER BY created_at, access_key"), &[])?.iter().map(key_row).collect()
    }
}
