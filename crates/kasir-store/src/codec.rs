//! How values are written into and read from columns, the same on both backends.

use kasir_domain::{Mode, Timestamp};
use serde::de::DeserializeOwned;

use crate::{AccountRecord, KeyRecord, StoreError};

/// A stored document (an object's wire JSON).
pub(crate) fn decode<T: DeserializeOwned>(s: String) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&s)?)
}

/// A status enum as its wire string, for the `status` column.
pub(crate) fn status_str<S: serde::Serialize>(s: &S) -> Result<String, StoreError> {
    match serde_json::to_value(s)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Corrupt(format!("status is not a string: {other}"))),
    }
}

pub(crate) fn mode_of(s: &str) -> Result<Mode, StoreError> {
    Mode::parse(s).ok_or_else(|| StoreError::Corrupt(format!("mode {s}")))
}

/// The columns of an `accounts` row that [`account_record`] reads, in its order.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "SELECT id, name, created_at, webhook_secret, previous_webhook_secret, previous_secret_until, event_types FROM accounts";

/// An `accounts` row, as [`ACCOUNT_COLUMNS`] selects it.
pub(crate) fn account_record(
    (id, name, created_at): (String, String, i64),
    secret: Option<String>,
    previous: Option<String>,
    until: Option<i64>,
    event_types: &str,
) -> Result<AccountRecord, StoreError> {
    Ok(AccountRecord {
        id,
        name,
        created_at: Timestamp::from_micros(created_at),
        webhook_secret: secret,
        previous_webhook_secret: previous.zip(until.map(Timestamp::from_micros)),
        event_types: serde_json::from_str(event_types)?,
    })
}

/// An `api_keys` row: access key, secret hash, account, mode, created_at, revoked_at.
pub(crate) fn key_record(
    (access_key, secret_hash, account_id): (String, String, String),
    mode: &str,
    created_at: i64,
    revoked_at: Option<i64>,
) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        access_key,
        secret_hash,
        account_id,
        mode: mode_of(mode)?,
        created_at: Timestamp::from_micros(created_at),
        revoked_at: revoked_at.map(Timestamp::from_micros),
    })
}
