//! Accounts and API keys in SQLite.

use kasir_domain::{EventSwitches, Timestamp};
use rusqlite::{params, OptionalExtension};

use super::tx::{constraint, SqliteTx};
use crate::codec::key_record;
use crate::{AccountRecord, AccountRecords, KeyRecord, Result, StoreError};

const KEY_COLUMNS: &str = "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys";

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<KeyRecord, StoreError>> {
    let mode: String = r.get(3)?;
    Ok(key_record(r.get(0)?, r.get(1)?, r.get(2)?, &mode, r.get(4)?))
}

impl AccountRecords for SqliteTx<'_> {
    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, now.as_micros()],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn first_account(&mut self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1", [], |r| r.get(0))
            .optional()?)
    }

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, webhook_secret, previous_webhook_secret, previous_secret_until, event_types
             FROM accounts WHERE id = ?1",
        )?;
        let row = st
            .query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        let Some((id, secret, prev, until, types)) = row else { return Ok(None) };
        Ok(Some(AccountRecord {
            id,
            webhook_secret: secret,
            previous_webhook_secret: prev.zip(until.map(Timestamp::from_micros)),
            event_types: serde_json::from_str(&types)?,
        }))
    }

    fn set_webhook_secret(&mut self, id: &str, secret: &str, previous: Option<(&str, Timestamp)>) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET webhook_secret = ?2, previous_webhook_secret = ?3, previous_secret_until = ?4
             WHERE id = ?1",
            params![id, secret, previous.map(|p| p.0), previous.map(|p| p.1.as_micros())],
        )?;
        Ok(())
    }

    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE accounts SET webhook_secret = ?2 WHERE id = ?1 AND webhook_secret IS NULL",
            params![id, secret],
        )?;
        Ok(n == 1)
    }

    fn set_event_types(&mut self, id: &str, types: &EventSwitches) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET event_types = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(types)?],
        )?;
        Ok(())
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO api_keys (access_key, secret_hash, account_id, mode, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![k.access_key, k.secret_hash, k.account_id, k.mode.as_str(), k.created_at.as_micros()],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>> {
        let mut st = self.conn.prepare_cached(&format!("{KEY_COLUMNS} WHERE access_key = ?1"))?;
        st.query_row(params![access_key], key_row).optional()?.transpose()
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>> {
        let mut st = self.conn.prepare_cached(&format!("{KEY_COLUMNS} ORDER BY created_at, access_key"))?;
        let rows = st.query_map([], key_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }
}
