//! Dashboard users: the people of a merchant's account who sign in to the dashboard (support, finance,
//! developers, owners), separate from API keys. Passwords are hashed with argon2id (at least 12
//! characters, no composition rules, as NIST SP 800-63B has it); every change is written to the audit log.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use kasir_domain::Timestamp;
use kasir_store::{AuditRecord, StoreError, Tx, UserRecord};
use rand::Rng;

/// The shortest password taken.
pub const MIN_PASSWORD: usize = 12;
/// The longest password taken (hashing has a cost; nobody types more).
pub const MAX_PASSWORD: usize = 1024;

/// What a user may do: support sees and refunds; a developer also manages keys, webhooks and event
/// types; an owner also manages users and reads the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Support,
    Developer,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Developer, Role::Support];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Developer => "developer",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// Why a user change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("a password must be at least {MIN_PASSWORD} characters long")]
    ShortPassword,
    #[error("a password must be at most {MAX_PASSWORD} characters long")]
    LongPassword,
    #[error("{0} already has a dashboard user")]
    Taken(String),
    #[error("no dashboard user has the email {0}")]
    NoSuchUser(String),
    #[error("no account {0}")]
    NoSuchAccount(String),
    #[error("the current password is not right")]
    WrongPassword,
    #[error("the new password is the current one")]
    SamePassword,
    #[error("that code is not right; enter the 6 digits your authenticator app shows now")]
    BadCode,
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        UserError::Store(e.to_string())
    }
}

/// An email as stored: trimmed and in lower case; `None` when it cannot be one.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

/// Checks a new password against the rules.
pub fn check_password(password: &str) -> Result<(), UserError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(UserError::ShortPassword);
    }
    if n > MAX_PASSWORD {
        return Err(UserError::LongPassword);
    }
    Ok(())
}

/// The argon2id hash of `password`, as a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::thread_rng().gen();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2id hashes any password").to_string()
}

/// Whether `password` is the one `hash` was made from (in constant time, by argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A one-time password: 16 characters from an alphabet without look-alikes.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

pub(crate) fn audit(
    tx: &mut dyn Tx,
    account_id: &str,
    actor: &str,
    action: &str,
    detail: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.insert_audit(&AuditRecord {
        account_id: account_id.into(),
        actor: actor.into(),
        action: action.into(),
        detail,
        at: now,
    })
}

/// The password given (checked against the rules), or a one-time one, returned as the second value.
fn password_or_one_time(given: Option<&str>) -> Result<(String, Option<String>), UserError> {
    match given {
        Some(p) => {
            check_password(p)?;
            Ok((p.to_string(), None))
        }
        None => {
            let p = one_time_password();
            Ok((p.clone(), Some(p)))
        }
    }
}

/// Forgets failed sign-ins and any lock-out.
fn clear_failures(user: &mut UserRecord) {
    user.failed_logins = 0;
    user.first_failed_at = None;
    user.locked_until = None;
}

/// Makes a user of `account_id`. With no `password`, a one-time one is made (returned; it must be
/// changed at the first sign-in).
pub fn create(
    tx: &mut dyn Tx,
    account_id: &str,
    email: &str,
    role: Role,
    password: Option<&str>,
    actor: &str,
    now: Timestamp,
) -> Result<(UserRecord, Option<String>), UserError> {
    let email = normalize_email(email).ok_or_else(|| UserError::BadEmail(email.to_string()))?;
    if tx.account(account_id)?.is_none() {
        return Err(UserError::NoSuchAccount(account_id.into()));
    }
    let (password, one_time) = password_or_one_time(password)?;
    let user = UserRecord {
        id: format!("usr_{}", kasir_domain::id::xid()),
        account_id: account_id.into(),
        email: email.clone(),
        role: role.as_str().into(),
        password_hash: hash_password(&password),
        must_change_password: one_time.is_some(),
        disabled: false,
        failed_logins: 0,
        first_failed_at: None,
        locked_until: None,
        created_at: now,
        password_changed_at: now,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: 0,
        recovery_codes: Vec::new(),
    };
    tx.insert_user(&user).map_err(|e| match e {
        StoreError::Conflict(_) => UserError::Taken(email.clone()),
        other => other.into(),
    })?;
    audit(tx, account_id, actor, "user.created", format!("{email} as {}", role.as_str()), now)?;
    Ok((user, one_time))
}

/// The user with `email`.
pub fn find(tx: &mut dyn Tx, email: &str) -> Result<UserRecord, UserError> {
    let key = normalize_email(email).ok_or_else(|| UserError::BadEmail(email.to_string()))?;
    tx.user_by_email(&key)?.ok_or(UserError::NoSuchUser(key))
}

/// Disables a user: no sign-in, and (with the dashboard) every session ended.
pub fn disable(tx: &mut dyn Tx, email: &str, actor: &str, now: Timestamp) -> Result<UserRecord, UserError> {
    let mut user = find(tx, email)?;
    user.disabled = true;
    tx.update_user(&user)?;
    tx.delete_sessions_of(&user.id)?;
    audit(tx, &user.account_id, actor, "user.disabled", user.email.clone(), now)?;
    Ok(user)
}

/// Lifts a lock-out after failed sign-ins (and re-enables a disabled user).
pub fn unlock(tx: &mut dyn Tx, email: &str, actor: &str, now: Timestamp) -> Result<UserRecord, UserError> {
    let mut user = find(tx, email)?;
    user.disabled = false;
    clear_failures(&mut user);
    tx.update_user(&user)?;
    audit(tx, &user.account_id, actor, "user.unlocked", user.email.clone(), now)?;
    Ok(user)
}

/// Sets a new password (with none, a one-time one, returned, to be changed at the next sign-in).
pub fn reset_password(
    tx: &mut dyn Tx,
    email: &str,
    password: Option<&str>,
    actor: &str,
    now: Timestamp,
) -> Result<(UserRecord, Option<String>), UserError> {
    let mut user = find(tx, email)?;
    let (password, one_time) = password_or_one_time(password)?;
    user.password_hash = hash_password(&password);
    user.must_change_password = one_time.is_some();
    user.password_changed_at = now;
    clear_failures(&mut user);
    tx.update_user(&user)?;
    tx.delete_sessions_of(&user.id)?;
    audit(tx, &user.account_id, actor, "user.password_reset", user.email.clone(), now)?;
    Ok((user, one_time))
}

/// A user's own change of password (the current one checked first): every session of theirs ends,
/// and the caller starts a new one for the browser that asked.
pub fn change_password(
    tx: &mut dyn Tx,
    user_id: &str,
    current: &str,
    new: &str,
    now: Timestamp,
) -> Result<UserRecord, UserError> {
    let mut user = tx.user(user_id)?.ok_or_else(|| UserError::NoSuchUser(user_id.into()))?;
    if !verify_password(current, &user.password_hash) {
        return Err(UserError::WrongPassword);
    }
    check_password(new)?;
    if new == current {
        return Err(UserError::SamePassword);
    }
    user.password_hash = hash_password(new);
    user.must_change_password = false;
    user.password_changed_at = now;
    tx.update_user(&user)?;
    tx.delete_sessions_of(&user.id)?;
    audit(tx, &user.account_id, &user.email, "user.password_changed", user.email.clone(), now)?;
    Ok(user)
}

/// Changes a user's role or turns them off or on, by an owner of the same account (not themselves).
pub fn set_role(
    tx: &mut dyn Tx,
    account_id: &str,
    email: &str,
    role: Role,
    actor: &str,
    now: Timestamp,
) -> Result<UserRecord, UserError> {
    let mut user = find(tx, email)?;
    if user.account_id != account_id {
        return Err(UserError::NoSuchUser(user.email));
    }
    user.role = role.as_str().into();
    tx.update_user(&user)?;
    audit(tx, account_id, actor, "user.role_changed", format!("{} to {}", user.email, role.as_str()), now)?;
    Ok(user)
}

/// Failed sign-ins within [`FAILURE_WINDOW`] that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// How long a lock-out lasts.
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Why a sign-in was refused. The page says no more than [`LoginError::message`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown email or wrong password (the same answer for both).
    Wrong,
    /// Too many failures: locked until then.
    Locked(Timestamp),
    Disabled,
}

/// Checks a sign-in, counting failures: after [`MAX_FAILURES`] within [`FAILURE_WINDOW`] the user is
/// locked for [`LOCKOUT`] (an owner or `kasir users unlock` lifts it). A success clears the count, unless
/// a second factor is still to come (it clears the count once it passes). The caller commits the
/// transaction either way, so that failures are counted.
pub fn authenticate(
    tx: &mut dyn Tx,
    email: &str,
    password: &str,
    now: Timestamp,
) -> Result<Result<UserRecord, LoginError>, StoreError> {
    let found = match normalize_email(email) {
        Some(e) => tx.user_by_email(&e)?,
        None => None,
    };
    let Some(mut user) = found else {
        // As long as a real check takes, so that an unknown email cannot be told from a wrong password.
        verify_password(password, DUMMY_HASH.as_str());
        return Ok(Err(LoginError::Wrong));
    };
    if user.disabled {
        return Ok(Err(LoginError::Disabled));
    }
    if let Some(until) = locked(&user, now) {
        return Ok(Err(LoginError::Locked(until)));
    }
    if verify_password(password, &user.password_hash) {
        if user.totp_secret.is_none() {
            passed(tx, &mut user)?;
        }
        return Ok(Ok(user));
    }
    Ok(Err(failed(tx, &mut user, now)?))
}

/// When a user's lock-out ends, if they are locked now.
pub fn locked(user: &UserRecord, now: Timestamp) -> Option<Timestamp> {
    user.locked_until.filter(|t| *t > now)
}

/// Counts a failed check of a user's password or code: the [`MAX_FAILURES`]th within
/// [`FAILURE_WINDOW`] locks them for [`LOCKOUT`] (audited). Returns what the refusal says.
pub fn failed(tx: &mut dyn Tx, user: &mut UserRecord, now: Timestamp) -> Result<LoginError, StoreError> {
    let window_open = user.first_failed_at.is_some_and(|t| t.plus(FAILURE_WINDOW) > now);
    if !window_open {
        user.failed_logins = 0;
        user.first_failed_at = Some(now);
    }
    user.failed_logins += 1;
    let locked = user.failed_logins >= MAX_FAILURES;
    if locked {
        clear_failures(user);
        user.locked_until = Some(now.plus(LOCKOUT));
    }
    tx.update_user(user)?;
    if locked {
        audit(tx, &user.account_id, &user.email, "user.locked", format!("{MAX_FAILURES} failures"), now)?;
        return Ok(LoginError::Locked(now.plus(LOCKOUT)));
    }
    Ok(LoginError::Wrong)
}

/// A check passed: the failures counted so far are forgotten.
pub fn passed(tx: &mut dyn Tx, user: &mut UserRecord) -> Result<(), StoreError> {
    if user.failed_logins > 0 || user.locked_until.is_some() {
        clear_failures(user);
        tx.update_user(user)?;
    }
    Ok(())
}

/// The password asked again of a signed-in user (before a secret is shown or a key made): a wrong one
/// counts as a failed sign-in, and a locked user is refused whatever they type.
pub fn confirm_password(
    tx: &mut dyn Tx,
    user_id: &str,
    password: &str,
    now: Timestamp,
) -> Result<Result<(), LoginError>, StoreError> {
    let Some(mut user) = tx.user(user_id)? else { return Ok(Err(LoginError::Wrong)) };
    if let Some(until) = locked(&user, now) {
        return Ok(Err(LoginError::Locked(until)));
    }
    if verify_password(password, &user.password_hash) {
        return Ok(Ok(()));
    }
    Ok(Err(failed(tx, &mut user, now)?))
}

/// A hash no password matches in practice, checked for an unknown email so that it costs the same.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password(&one_time_password()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_and_verify_only_themselves() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(hash_password("correct horse battery"), h, "salted");
    }

    #[test]
    fn the_rules_are_length_only() {
        assert_eq!(check_password("elevenchars"), Err(UserError::ShortPassword));
        assert_eq!(check_password("twelve chars"), Ok(()));
        assert_eq!(check_password("ąęśćżźńółąęś"), Ok(()), "characters, not bytes");
        assert_eq!(check_password(&"x".repeat(1025)), Err(UserError::LongPassword));
        let otp = one_time_password();
        assert_eq!(otp.len(), 16);
        assert_eq!(check_password(&otp), Ok(()));
    }

    #[test]
    fn emails_are_kept_in_lower_case() {
        assert_eq!(normalize_email(" Siti@Toko.CO.ID ").as_deref(), Some("siti@toko.co.id"));
        for bad in ["", "siti", "@toko.id", "siti@", "siti@toko", "si ti@toko.id", "siti@.id"] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn roles_nest() {
        assert!(Role::Owner.allows(Role::Developer) && Role::Owner.allows(Role::Support));
        assert!(Role::Developer.allows(Role::Support) && !Role::Developer.allows(Role::Owner));
        assert!(!Role::Support.allows(Role::Developer));
        assert_eq!(Role::parse("developer"), Some(Role::Developer));
        assert_eq!(Role::parse("admin"), None);
    }
}
