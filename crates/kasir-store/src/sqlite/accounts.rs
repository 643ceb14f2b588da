//! Accounts and API keys in SQLite.

use kasir_domain::{EventSwitches, Timestamp};
use rusqlite::{params, OptionalExtension};

use super::tx::{constraint, SqliteTx};
use crate::codec::{account_record, key_record, ACCOUNT_COLUMNS};
use crate::{AccountRecord, AccountRecords, KeyRecord, Result, StoreError};

const KEY_COLUMNS: &str = "SELECT access_key, secret_hash, account_id, mode, created_at, revoked_at FROM api_keys";

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AccountRecord, StoreError>> {
    let types: String = r.get(6)?;
    Ok(account_record((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?, r.get(4)?, r.get(5)?, &types))
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<KeyRecord, StoreError>> {
    let mode: String = r.get(3)?;
    Ok(key_record((r.get(0)?, r.get(1)?, r.get(2)?), &mode, r.get(4)?, r.get(5)?))
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
        let mut st = self.conn.prepare_cached(&format!("{ACCOUNT_COLUMNS} WHERE id = ?1"))?;
        st.query_row(params![id], account_row).optional()?.transpose()
    }

    fn accounts(&mut self) -> Result<Vec<AccountRecord>> {
        let mut st = self.conn.prepare_cached(&format!("{ACCOUNT_COLUMNS} ORDER BY created_at, id"))?;
        let rows = st.query_map([], account_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    fn rename_account(&mut self, id: &str, name: &str) -> Result<bool> {
        Ok(self.conn.execute("UPDATE accounts SET name = ?2 WHERE id = ?1", params![id, name])? == 1)
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

    fn revoke_key(&mut self, access_key: &str, now: Timestamp) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE access_key = ?1 AND revoked_at IS NULL",
            params![access_key, now.as_micros()],
        )? == 1)
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>> {
        let mut st = self.conn.prepare_cached(&format!("{KEY_COLUMNS} ORDER BY created_at, access_key"))?;
        let rows = st.query_map([], key_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }
}
