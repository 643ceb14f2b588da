//! Two-factor sign-in for the dashboard: time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second
//! steps, 6 digits, one step of clock drift either way, each code taken once) and ten single-use
//! recovery codes, kept only as hashes.

use hmac::{Hmac, Mac};
use kasir_domain::Timestamp;
use kasir_store::{Tx, UserRecord};
use rand::Rng;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::users::{self, audit, LoginError, UserError};

const STEP_SECS: i64 = 30;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;

/// RFC 4648 base32 without padding, as authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The code for one time step.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]) % 1_000_000;
    format!("{n:06}")
}

fn step_of(now: Timestamp) -> i64 {
    now.as_micros() / 1_000_000 / STEP_SECS
}

/// The step whose code `code` is (now, or one step either side) and is later than `after`.
fn matching_step(secret_b32: &str, code: &str, now: Timestamp, after: i64) -> Option<i64> {
    let secret = unbase32(secret_b32)?;
    let code = code.trim().replace(' ', "");
    let now = step_of(now);
    [now, now - 1, now + 1].into_iter().find(|s| *s > after && code_at(&secret, *s) == code)
}

fn hash(code: &str) -> String {
    Sha256::digest(code.trim().to_ascii_lowercase().replace(['-', ' '], "").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn load(tx: &mut dyn Tx, user_id: &str) -> Result<UserRecord, UserError> {
    tx.user(user_id)?.ok_or_else(|| UserError::NoSuchUser(user_id.into()))
}

/// Starts setting up two-factor sign-in: a new secret (base32), kept aside until a code from it is entered.
pub fn begin(tx: &mut dyn Tx, user_id: &str) -> Result<String, UserError> {
    let mut user = load(tx, user_id)?;
    let secret = base32(&rand::random::<[u8; 20]>());
    user.totp_pending = Some(secret.clone());
    tx.update_user(&user)?;
    Ok(secret)
}

/// The `otpauth://` address an authenticator app takes for `secret`.
pub fn otpauth(issuer: &str, email: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    format!("otpauth://totp/{}:{}?secret={secret}&issuer={}", enc(issuer), enc(email), enc(issuer))
}

/// Turns two-factor sign-in on once `code` comes from the secret being set up; returns the recovery
/// codes, shown once.
pub fn confirm(tx: &mut dyn Tx, user_id: &str, code: &str, now: Timestamp) -> Result<Vec<String>, UserError> {
    let mut user = load(tx, user_id)?;
    let pending = user.totp_pending.clone().ok_or(UserError::BadCode)?;
    let step = matching_step(&pending, code, now, 0).ok_or(UserError::BadCode)?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    user.totp_secret = Some(pending);
    user.totp_pending = None;
    user.totp_last_step = step;
    user.recovery_codes = codes.iter().map(|c| hash(c)).collect();
    tx.update_user(&user)?;
    audit(tx, &user.account_id, &user.email, "user.totp_enabled", user.email.clone(), now)?;
    Ok(codes)
}

/// Turns two-factor sign-in off.
pub fn disable(tx: &mut dyn Tx, user_id: &str, now: Timestamp) -> Result<(), UserError> {
    let mut user = load(tx, user_id)?;
    user.totp_secret = None;
    user.totp_pending = None;
    user.recovery_codes.clear();
    tx.update_user(&user)?;
    audit(tx, &user.account_id, &user.email, "user.totp_disabled", user.email.clone(), now)?;
    Ok(())
}

/// Checks the second factor: a current code not used before, or an unused recovery code (used up). A
/// wrong one counts as a failed sign-in, and a locked user is refused whatever they enter; the
/// transaction is to be committed either way.
pub fn check(tx: &mut dyn Tx, user_id: &str, code: &str, now: Timestamp) -> Result<Result<(), LoginError>, UserError> {
    let mut user = load(tx, user_id)?;
    if let Some(until) = users::locked(&user, now) {
        return Ok(Err(LoginError::Locked(until)));
    }
    let Some(secret) = user.totp_secret.clone() else { return Ok(Ok(())) };
    if let Some(step) = matching_step(&secret, code, now, user.totp_last_step) {
        user.totp_last_step = step;
        users::passed(tx, &mut user)?;
        tx.update_user(&user)?;
        return Ok(Ok(()));
    }
    let h = hash(code);
    if let Some(i) = user.recovery_codes.iter().position(|c| *c == h) {
        user.recovery_codes.remove(i);
        users::passed(tx, &mut user)?;
        tx.update_user(&user)?;
        let left = user.recovery_codes.len();
        audit(tx, &user.account_id, &user.email, "user.recovery_code_used", format!("{left} left"), now)?;
        return Ok(Ok(()));
    }
    Ok(Err(users::failed(tx, &mut user, now)?))
}

/// A recovery code: ten letters and digits in two groups (`k7pq2-xm4rt`).
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let mut s: String = (0..10).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    s.insert(5, '-');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_rfc_6238s() {
        // RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", 8 digits there, 6 here.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59 / 30), "287082");
        assert_eq!(code_at(secret, 1111111109 / 30), "081804");
        assert_eq!(code_at(secret, 2000000000 / 30), "279037");
        assert_eq!(base32(secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(unbase32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(), secret);
    }

    #[test]
    fn a_code_matches_its_step_and_the_ones_beside_it_once() {
        let b32 = base32(b"12345678901234567890");
        let now = Timestamp::from_micros(1_111_111_109_000_000);
        let step = 1_111_111_109 / 30;
        assert_eq!(matching_step(&b32, "081804", now, 0), Some(step));
        assert_eq!(matching_step(&b32, "081804", now, step), None, "a code is taken once");
        let later = Timestamp::from_micros((1_111_111_109 + 30) * 1_000_000);
        assert_eq!(matching_step(&b32, "081 804", later, 0), Some(step), "one step of drift");
        let much_later = Timestamp::from_micros((1_111_111_109 + 90) * 1_000_000);
        assert_eq!(matching_step(&b32, "081804", much_later, 0), None);
        assert_eq!(hash("K7PQ2-XM4RT"), hash("k7pq2xm4rt"));
        assert_eq!(recovery_code().len(), 11);
    }
}
