//! Accounts: the default account and its first key pair, named accounts, API keys, the webhook signing secret and its
//! rotation, and which event types are sent.

use std::time::Duration;

use kasir_domain::{new_webhook_secret, EventSwitches, EventType, IdKind, Mode, Timestamp};
use kasir_store::{KeyRecord, StoreError, Tx};

use crate::keys::KeyPair;

/// How long a rotated-out webhook secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The account keys belong to, creating the default account when there is none.
pub fn default_account(tx: &mut dyn Tx, now: Timestamp) -> Result<String, StoreError> {
    if let Some(id) = tx.first_account()? {
        return Ok(id);
    }
    let id = IdKind::Account.generate();
    tx.insert_account(&id, "default", now)?;
    Ok(id)
}

/// On a database with no keys at all, creates the default account and a test key pair.
pub fn bootstrap(tx: &mut dyn Tx, now: Timestamp) -> Result<Option<KeyPair>, StoreError> {
    if !tx.keys()?.is_empty() {
        return Ok(None);
    }
    let account = default_account(tx, now)?;
    let pair = KeyPair::generate(Mode::Test);
    tx.insert_key(&pair.record(&account, now))?;
    Ok(Some(pair))
}

/// The longest account name.
pub const MAX_NAME_CHARS: usize = 100;

/// Why an account command was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no account {0}; `kasir accounts list` shows them")]
    NoSuchAccount(String),
    #[error("an account's name is 1 to {MAX_NAME_CHARS} characters, with no control characters")]
    BadName,
    #[error("no API key {0} (or it was revoked already); `kasir keys list` shows them")]
    NoSuchKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A name as an account keeps it: trimmed, non-empty, at most [`MAX_NAME_CHARS`], printable.
fn account_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    let ok = !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS && !name.chars().any(char::is_control);
    ok.then(|| name.to_string()).ok_or(AccountError::BadName)
}

/// A new account named `name` (its customers see the name on the hosted pages); returns its id.
pub fn create(tx: &mut dyn Tx, name: &str, now: Timestamp) -> Result<String, AccountError> {
    let name = account_name(name)?;
    // The default account is the oldest: a first account made by name becomes it.
    let id = IdKind::Account.generate();
    tx.insert_account(&id, &name, now)?;
    Ok(id)
}

/// Renames an account.
pub fn rename(tx: &mut dyn Tx, id: &str, name: &str) -> Result<(), AccountError> {
    let name = account_name(name)?;
    if !tx.rename_account(id, &name)? {
        return Err(AccountError::NoSuchAccount(id.to_string()));
    }
    Ok(())
}

/// The account a command names, or the default account (created when there is none) when it names none.
pub fn chosen(tx: &mut dyn Tx, id: Option<&str>, now: Timestamp) -> Result<String, AccountError> {
    match id {
        None => Ok(default_account(tx, now)?),
        Some(id) => match tx.account(id)? {
            Some(a) => Ok(a.id),
            None => Err(AccountError::NoSuchAccount(id.to_string())),
        },
    }
}

/// Adds a pair to `account`; returns the account.
pub fn add_key(tx: &mut dyn Tx, pair: &KeyPair, account: &str, now: Timestamp) -> Result<String, StoreError> {
    tx.insert_key(&pair.record(account, now))?;
    Ok(account.to_string())
}

/// Revokes an API key: every process refuses it within a second (their caches read keys again that
/// often). Written to the account's audit log, by `actor`.
pub fn revoke_key(tx: &mut dyn Tx, access_key: &str, actor: &str, now: Timestamp) -> Result<KeyRecord, AccountError> {
    let no_key = || AccountError::NoSuchKey(access_key.to_string());
    let rec = tx.key(access_key)?.ok_or_else(no_key)?;
    if !tx.revoke_key(access_key, now)? {
        return Err(no_key());
    }
    tx.insert_audit(&kasir_store::AuditRecord {
        account_id: rec.account_id.clone(),
        actor: actor.into(),
        action: "key.revoked".into(),
        detail: format!("{access_key} ({})", rec.mode.as_str()),
        at: now,
    })?;
    Ok(KeyRecord { revoked_at: Some(now), ..rec })
}

/// The account's signing secrets (current first), creating the secret on first use.
pub fn signing_secrets(tx: &mut dyn Tx, account_id: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let no_account = || StoreError::Corrupt(format!("no account {account_id}"));
    let mut acct = tx.account(account_id)?.ok_or_else(no_account)?;
    let current = match acct.webhook_secret.take() {
        Some(s) => s,
        None => {
            let s = new_webhook_secret();
            if tx.init_webhook_secret(account_id, &s)? {
                s
            } else {
                // Another transaction set it (and may have rotated it) since we read the account: sign
                // with what it stored.
                acct = tx.account(account_id)?.ok_or_else(no_account)?;
                let stored = acct.webhook_secret.take();
                stored.ok_or_else(|| StoreError::Corrupt(format!("account {account_id} has no webhook secret")))?
            }
        }
    };
    let mut secrets = vec![current];
    if let Some((prev, until)) = acct.previous_webhook_secret {
        if until > now {
            secrets.push(prev);
        }
    }
    Ok(secrets)
}

/// Replaces the signing secret; the old one keeps signing beside it for [`SECRET_OVERLAP`].
pub fn rotate_secret(tx: &mut dyn Tx, account_id: &str, now: Timestamp) -> Result<String, StoreError> {
    let old = signing_secrets(tx, account_id, now)?.remove(0);
    let new = new_webhook_secret();
    tx.set_webhook_secret(account_id, &new, Some((&old, now.plus(SECRET_OVERLAP))))?;
    Ok(new)
}

/// Which event types the account has sent as webhooks.
pub fn event_switches(tx: &mut dyn Tx, account_id: &str) -> Result<EventSwitches, StoreError> {
    Ok(tx.account(account_id)?.map(|a| a.event_types).unwrap_or_default())
}

/// Turns an event type on or off for an account.
pub fn set_event_type(tx: &mut dyn Tx, account_id: &str, kind: EventType, on: bool) -> Result<(), StoreError> {
    let mut switches = event_switches(tx, account_id)?;
    switches.set(kind, on);
    tx.set_event_types(account_id, &switches)
}
