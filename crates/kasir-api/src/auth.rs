//! `Authorization: Basic base64(access_key:secret_key)`, checked against stored hashes in constant time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::Engine as _;
use kasir_app::keys::hash_secret;
use kasir_domain::codes;
use kasir_store::{KeyRecord, Scope};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The authenticated caller: which key, and so which account and mode.
#[derive(Debug, Clone)]
pub struct Principal {
    pub access_key: String,
    pub scope: Scope,
}

/// Keys seen before, so that most requests authenticate without a database read. A key can be revoked
/// (by `kasir keys revoke`, in any process), so what is kept is trusted for [`FRESH`] only: after that
/// the key is read again, and a revoked key is refused on every process within a second.
#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (Arc<KeyRecord>, Instant)>>,
    /// `Authorization` values already checked, and whom they name: a merchant's server sends the same
    /// header on every request, and a repeat skips the decoding and the hashing. Only values that passed
    /// the check are kept, so a caller without a valid secret cannot fill it; a wrong secret misses (its
    /// hash under the map's random key differs) and takes the constant-time path.
    verified: RwLock<HashMap<Box<[u8]>, Checked>>,
}

/// Whom a checked `Authorization` names, and when it was last found good.
type Checked = (Principal, Instant);

/// Checked `Authorization` values kept at most; past it the map starts again.
const VERIFIED_MAX: usize = 1024;

/// How long a checked key is trusted before it is read again (a revocation's delay, at most).
pub const FRESH: Duration = Duration::from_secs(1);

impl KeyCache {
    fn get(&self, access_key: &str) -> Option<Arc<KeyRecord>> {
        let keys = self.keys.read().ok()?;
        let (rec, at) = keys.get(access_key)?;
        (at.elapsed() < FRESH).then(|| rec.clone())
    }

    fn put(&self, rec: Arc<KeyRecord>) {
        if let Ok(mut m) = self.keys.write() {
            m.insert(rec.access_key.clone(), (rec, Instant::now()));
        }
    }

    /// Whom a checked header names, and whether that is still fresh.
    fn verified(&self, header: &[u8]) -> Option<(Principal, bool)> {
        let m = self.verified.read().ok()?;
        let (who, at) = m.get(header)?;
        Some((who.clone(), at.elapsed() < FRESH))
    }

    fn remember(&self, header: &[u8], who: &Principal) {
        if let Ok(mut m) = self.verified.write() {
            if m.len() >= VERIFIED_MAX {
                m.clear();
            }
            m.insert(header.into(), (who.clone(), Instant::now()));
        }
    }

    /// Forgets everything about a key (it was revoked).
    fn forget(&self, access_key: &str) {
        if let Ok(mut m) = self.keys.write() {
            m.remove(access_key);
        }
        if let Ok(mut m) = self.verified.write() {
            m.retain(|_, (who, _)| who.access_key != access_key);
        }
    }
}

fn unauthorized(code: u32, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message, "Authorization")
}

/// Splits the header into (access key, secret), or says why it cannot.
fn parse_basic(value: &[u8]) -> Result<(String, String), ApiError> {
    let malformed = || {
        unauthorized(
            codes::INVALID_BASIC_AUTH,
            "Authorization must be 'Basic ' followed by base64 of access_key:secret_key",
        )
    };
    let s = std::str::from_utf8(value).map_err(|_| malformed())?.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("basic") {
        return Err(unauthorized(codes::EMPTY_BASIC_AUTH, "Authorization header is empty"));
    }
    let (scheme, rest) = s.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(unauthorized(codes::EMPTY_BASIC_AUTH, "Authorization header carries no credentials"));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (ak, sk) = decoded.split_once(':').ok_or_else(malformed)?;
    if ak.is_empty() || sk.is_empty() {
        return Err(malformed());
    }
    Ok((ak.to_string(), sk.to_string()))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            state.limits.may_try(parts)?;
            state.limits.failed(parts);
            return Err(unauthorized(codes::EMPTY_BASIC_AUTH, "Authorization header is missing"));
        };
        if let Some((who, fresh)) = state.keys.verified(value.as_bytes()) {
            if fresh || still_good(&who.access_key, state).await? {
                if !fresh {
                    state.keys.remember(value.as_bytes(), &who);
                }
                state.limits.request(&who.access_key)?;
                return Ok(who);
            }
            state.keys.forget(&who.access_key);
        }
        // Credentials not seen before: checked only while the client has failures to spare.
        state.limits.may_try(parts)?;
        let checked = check(value.as_bytes(), state).await;
        match &checked {
            Ok(who) => state.limits.request(&who.access_key)?,
            Err(e) if e.status == StatusCode::UNAUTHORIZED => state.limits.failed(parts),
            Err(_) => {}
        }
        checked
    }
}

/// Whether a key checked before is still there and not revoked (read again from the database).
async fn still_good(access_key: &str, state: &AppState) -> Result<bool, ApiError> {
    let lookup = access_key.to_string();
    let found = state.read(move |tx| tx.key(&lookup)).await?;
    Ok(match found {
        Some(rec) if rec.revoked_at.is_none() => {
            state.keys.put(Arc::new(rec));
            true
        }
        _ => false,
    })
}

/// Checks credentials not seen before, and remembers them when they pass.
async fn check(header: &[u8], state: &AppState) -> Result<Principal, ApiError> {
    let (ak, sk) = parse_basic(header)?;
    let invalid = || unauthorized(codes::INVALID_API_KEY, "invalid API key: unknown access key or wrong secret");
    let rec = match state.keys.get(&ak) {
        Some(r) => r,
        None => {
            let lookup = ak.clone();
            let found = state.read(move |tx| tx.key(&lookup)).await?;
            let rec = Arc::new(found.ok_or_else(invalid)?);
            state.keys.put(rec.clone());
            rec
        }
    };
    let presented = hash_secret(&sk);
    if !bool::from(presented.as_bytes().ct_eq(rec.secret_hash.as_bytes())) {
        return Err(invalid());
    }
    // Said only to whoever holds the secret.
    if rec.revoked_at.is_some() {
        return Err(unauthorized(codes::INVALID_API_KEY, "invalid API key: this key was revoked"));
    }
    let who = Principal {
        access_key: rec.access_key.clone(),
        scope: Scope { account_id: rec.account_id.clone(), mode: rec.mode },
    };
    state.keys.remember(header, &who);
    Ok(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_forms() {
        let ok = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ak:sk"));
        assert_eq!(parse_basic(ok.as_bytes()).unwrap(), ("ak".into(), "sk".into()));
        assert_eq!(parse_basic(b"").unwrap_err().errors[0].code, codes::EMPTY_BASIC_AUTH);
        assert_eq!(parse_basic(b"Basic ").unwrap_err().errors[0].code, codes::EMPTY_BASIC_AUTH);
        assert_eq!(parse_basic(b"Bearer abc").unwrap_err().errors[0].code, codes::INVALID_BASIC_AUTH);
        assert_eq!(parse_basic(b"Basic !!!").unwrap_err().errors[0].code, codes::INVALID_BASIC_AUTH);
        let no_colon = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("aksk"));
        assert_eq!(parse_basic(no_colon.as_bytes()).unwrap_err().errors[0].code, codes::INVALID_BASIC_AUTH);
    }
}
