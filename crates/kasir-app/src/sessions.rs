//! Dashboard sessions: kept in the database (so every process on PostgreSQL knows them), found by the
//! SHA-256 of the cookie's token (a copy of the table signs nobody in), a new one at every sign-in. A
//! session ends after [`IDLE`] without a request or [`ABSOLUTE`] after it began, at sign-out, and when
//! its user is disabled or changes password.

use std::time::Duration;

use kasir_domain::Timestamp;
use kasir_store::{SessionRecord, StoreError, Tx, UserRecord};
use sha2::{Digest, Sha256};

/// A session with no request for this long has ended.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session this old has ended, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// How stale `seen_at` may be before a request writes it again: most requests write nothing.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random token: 32 bytes, hex.
pub fn token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// What a session is found by: the token's SHA-256.
pub fn id_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Starts a session for `user` and returns the cookie's token. `awaiting_totp`: the password was
/// right, the second factor is still to come. The user's sessions that have ended by time go, so the
/// table holds no more than each user's live sessions and their last.
pub fn start(tx: &mut dyn Tx, user: &UserRecord, awaiting_totp: bool, now: Timestamp) -> Result<String, StoreError> {
    for old in tx.sessions_of(&user.id)?.iter().filter(|s| expired(s, now)) {
        tx.delete_session(&old.id_hash)?;
    }
    let t = token();
    tx.insert_session(&SessionRecord {
        id_hash: id_hash(&t),
        user_id: user.id.clone(),
        created_at: now,
        seen_at: now,
        csrf: token(),
        live: false,
        awaiting_totp,
    })?;
    Ok(t)
}

/// Whether a session has ended by time.
pub fn expired(s: &SessionRecord, now: Timestamp) -> bool {
    s.seen_at.plus(IDLE) <= now || s.created_at.plus(ABSOLUTE) <= now
}

/// The live session a token names and its user, or `None` (ended, unknown, user gone or disabled).
/// Whether `seen_at` is due to be written again comes back as the third value.
pub fn find(
    tx: &mut dyn Tx,
    token: &str,
    now: Timestamp,
) -> Result<Option<(SessionRecord, UserRecord, bool)>, StoreError> {
    if token.len() != 64 {
        return Ok(None);
    }
    let Some(s) = tx.session(&id_hash(token))? else { return Ok(None) };
    if expired(&s, now) {
        return Ok(None);
    }
    let Some(user) = tx.user(&s.user_id)? else { return Ok(None) };
    if user.disabled {
        return Ok(None);
    }
    let touch = s.seen_at.plus(TOUCH_EVERY) <= now;
    Ok(Some((s, user, touch)))
}

/// Records that a session was seen now, read afresh in this transaction so that no other change to it
/// (the test/live switch) is written over.
pub fn touch(tx: &mut dyn Tx, id_hash: &str, now: Timestamp) -> Result<(), StoreError> {
    if let Some(s) = tx.session(id_hash)? {
        tx.update_session(&SessionRecord { seen_at: now, ..s })?;
    }
    Ok(())
}

/// Sets a session's test/live switch (and that it was seen now).
pub fn set_live(tx: &mut dyn Tx, id_hash: &str, live: bool, now: Timestamp) -> Result<(), StoreError> {
    if let Some(s) = tx.session(id_hash)? {
        tx.update_session(&SessionRecord { seen_at: now, live, ..s })?;
    }
    Ok(())
}

/// Ends one session (sign-out).
pub fn end(tx: &mut dyn Tx, token: &str) -> Result<(), StoreError> {
    tx.delete_session(&id_hash(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        let t0 = Timestamp::from_micros(1_000_000_000_000);
        let s = SessionRecord {
            id_hash: id_hash(&token()),
            user_id: "usr_x".into(),
            created_at: t0,
            seen_at: t0,
            csrf: token(),
            live: false,
            awaiting_totp: false,
        };
        assert!(!expired(&s, t0.plus(IDLE - Duration::from_secs(1))));
        assert!(expired(&s, t0.plus(IDLE)));
        let busy = SessionRecord { seen_at: t0.plus(ABSOLUTE - Duration::from_secs(60)), ..s };
        assert!(!expired(&busy, t0.plus(ABSOLUTE - Duration::from_secs(1))));
        assert!(expired(&busy, t0.plus(ABSOLUTE)));
        assert_eq!(token().len(), 64);
        assert_eq!(id_hash("a").len(), 64);
    }
}
