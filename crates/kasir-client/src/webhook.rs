//! Verifying a webhook delivery in one call. Kasir signs each delivery twice with the account's secret
//! (`whsec_…`):
//!
//! - the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,`
//!   base64(HMAC-SHA256(the secret's base64 part decoded, id.timestamp.body))), one signature for each
//!   secret in use (during a rotation, the new and the old): [`verify`] checks these, and that the
//!   timestamp is within the tolerance (five minutes unless set), which refuses a replayed delivery;
//! - Tazapay's `signature`, base64(HMAC-SHA256(secret as shown, id + body + created_at)), with the current
//!   secret only and no timestamp: [`verify_signature`] checks it, for code written against Tazapay. It
//!   cannot tell a replay, so prefer [`verify`].
//!
//! ```no_run
//! # fn handle(headers: &reqwest::header::HeaderMap, body: &[u8]) {
//! match kasir_client::webhook::verify("whsec_…", headers, body) {
//!     Ok(event) if event.kind == "payin.succeeded" => { /* ship the order */ }
//!     Ok(_) => {}
//!     Err(e) => eprintln!("not from Kasir: {e}"), // answer 400
//! }
//! # }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

use crate::Event;

/// How far a Standard Webhooks timestamp may be from now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Neither signature is there.
    Unsigned,
    /// A signature does not match: not signed with this secret, or the body was changed.
    BadSignature(&'static str),
    /// The Standard Webhooks timestamp is too old or too far ahead (a replay, or a wrong clock).
    Stale { timestamp: i64, now: i64 },
    /// The body is not an event.
    NotAnEvent(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Unsigned => write!(f, "the delivery carries no signature"),
            VerifyError::BadSignature(h) => write!(f, "the {h} header does not match the body and secret"),
            VerifyError::Stale { timestamp, now } => {
                write!(f, "webhook-timestamp {timestamp} is too far from now ({now})")
            }
            VerifyError::NotAnEvent(e) => write!(f, "the body is not an event: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Checks a delivery's Standard Webhooks signature with [`DEFAULT_TOLERANCE`] and returns its event.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<Event, VerifyError> {
    verify_at(secret, headers, body, unix_now(), DEFAULT_TOLERANCE)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        m.update(p);
    }
    m
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn event_of(body: &[u8]) -> Result<Event, VerifyError> {
    serde_json::from_slice(body).map_err(|e| VerifyError::NotAnEvent(e.to_string()))
}

/// As [`verify`], at `now` (Unix seconds) and with `tolerance`: one `v1` signature of
/// `webhook-signature` must be this secret's, and `webhook-timestamp` within `tolerance` of `now`.
pub fn verify_at(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<Event, VerifyError> {
    let (Some(id), Some(ts), Some(sigs)) =
        (header(headers, "webhook-id"), header(headers, "webhook-timestamp"), header(headers, "webhook-signature"))
    else {
        return Err(VerifyError::Unsigned);
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let timestamp: i64 = ts.trim().parse().map_err(|_| VerifyError::BadSignature("webhook-timestamp"))?;
    if (now - timestamp).unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale { timestamp, now });
    }
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| VerifyError::BadSignature("webhook-signature"))?;
    let signed = mac(&key, &[id.as_bytes(), b".", ts.trim().as_bytes(), b".", body]);
    let ok = sigs
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| b64.decode(s).is_ok_and(|sig| signed.clone().verify_slice(&sig).is_ok()));
    if !ok {
        return Err(VerifyError::BadSignature("webhook-signature"));
    }
    let event = event_of(body)?;
    if event.id != id {
        return Err(VerifyError::BadSignature("webhook-id"));
    }
    Ok(event)
}

/// Checks Tazapay's `signature` header (the current secret only; no timestamp, so no protection
/// against a replayed delivery) and returns the event.
pub fn verify_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<Event, VerifyError> {
    let given = header(headers, "signature").ok_or(VerifyError::Unsigned)?;
    let event = event_of(body)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| VerifyError::BadSignature("signature"))?;
    mac(secret.as_bytes(), &[event.id.as_bytes(), body, event.created_at.as_bytes()])
        .verify_slice(&sig)
        .map_err(|_| VerifyError::BadSignature("signature"))?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signed(body: &str, ts: i64) -> HeaderMap {
        let b64 = base64::engine::general_purpose::STANDARD;
        let e: Event = serde_json::from_str(body).unwrap();
        let taz = b64.encode(
            mac(SECRET.as_bytes(), &[e.id.as_bytes(), body.as_bytes(), e.created_at.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        let key = b64.decode(SECRET.strip_prefix("whsec_").unwrap()).unwrap();
        let std = b64.encode(
            mac(&key, &[e.id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        let mut h = HeaderMap::new();
        h.insert("signature", HeaderValue::from_str(&taz).unwrap());
        h.insert("webhook-id", HeaderValue::from_str(&e.id).unwrap());
        h.insert("webhook-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
        h.insert("webhook-signature", HeaderValue::from_str(&format!("v1,{std}")).unwrap());
        h
    }

    #[test]
    fn a_delivery_verifies_and_a_changed_or_stale_one_does_not() {
        let body = r#"{"id":"evt_1","object":"event","type":"payin.succeeded","created_at":"2026-12-06T00:00:00Z","data":{"id":"pay_1"}}"#;
        let h = signed(body, 1_000);
        let e = verify_at(SECRET, &h, body.as_bytes(), 1_010, DEFAULT_TOLERANCE).unwrap();
        assert_eq!((e.id.as_str(), e.kind.as_str()), ("evt_1", "payin.succeeded"));
        let changed = body.replace("pay_1", "pay_2");
        assert_eq!(
            verify_at(SECRET, &h, changed.as_bytes(), 1_010, DEFAULT_TOLERANCE),
            Err(VerifyError::BadSignature("webhook-signature"))
        );
        assert!(verify_signature(SECRET, &h, body.as_bytes()).is_ok());
        assert_eq!(verify_signature(SECRET, &h, changed.as_bytes()), Err(VerifyError::BadSignature("signature")));
        assert_eq!(
            verify_at(SECRET, &h, body.as_bytes(), 1_000 + 301, DEFAULT_TOLERANCE),
            Err(VerifyError::Stale { timestamp: 1_000, now: 1_301 })
        );
        // Replay protection cannot be stripped off: without the timestamped headers, verify refuses.
        let mut only_tazapay = h.clone();
        only_tazapay.remove("webhook-signature");
        assert_eq!(
            verify_at(SECRET, &only_tazapay, body.as_bytes(), 1_000, DEFAULT_TOLERANCE),
            Err(VerifyError::Unsigned)
        );
        // During a rotation the merchant on the old secret still verifies: webhook-signature carries both.
        let old = "whsec_b2xkb2xkb2xkb2xkb2xkb2xk";
        let b64 = base64::engine::general_purpose::STANDARD;
        let old_key = b64.decode(old.strip_prefix("whsec_").unwrap()).unwrap();
        let old_sig =
            b64.encode(mac(&old_key, &[b"evt_1", b".", b"1000", b".", body.as_bytes()]).finalize().into_bytes());
        let mut rotating = h.clone();
        let both = format!("{} v1,{old_sig}", h["webhook-signature"].to_str().unwrap());
        rotating.insert("webhook-signature", HeaderValue::from_str(&both).unwrap());
        assert!(verify_at(old, &rotating, body.as_bytes(), 1_000, DEFAULT_TOLERANCE).is_ok());
        assert!(verify_at(SECRET, &rotating, body.as_bytes(), 1_000, DEFAULT_TOLERANCE).is_ok());
        let mut wrong_std = h.clone();
        wrong_std.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
        assert_eq!(
            verify_at(SECRET, &wrong_std, body.as_bytes(), 1_000, DEFAULT_TOLERANCE),
            Err(VerifyError::BadSignature("webhook-signature"))
        );
        assert_eq!(
            verify_at(SECRET, &HeaderMap::new(), body.as_bytes(), 1_000, DEFAULT_TOLERANCE),
            Err(VerifyError::Unsigned)
        );
    }
}
