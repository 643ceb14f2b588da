//! Webhook signatures: Tazapay's `signature` header and the Standard Webhooks headers.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Tazapay's `signature`: base64(HMAC-SHA256(key = the secret as shown, message = id + body + created_at)).
pub fn tazapay_signature(secret: &str, event_id: &str, body: &str, created_at: &str) -> String {
    hmac(secret.as_bytes(), &[event_id.as_bytes(), body.as_bytes(), created_at.as_bytes()])
}

/// One Standard Webhooks signature, `v1,<base64>`, keyed with the base64 part after `whsec_`.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()?;
    let ts = timestamp.to_string();
    Some(format!("v1,{}", hmac(&key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body.as_bytes()])))
}

/// The headers that sign one delivery. `secrets` holds the current secret first; during a rotation the
/// previous one follows and `webhook-signature` carries both signatures.
pub fn headers(
    secrets: &[String],
    event_id: &str,
    created_at: &str,
    body: &str,
    timestamp: i64,
) -> Vec<(&'static str, String)> {
    let current = secrets.first().map(String::as_str).unwrap_or("");
    let standard: Vec<String> =
        secrets.iter().filter_map(|s| standard_signature(s, event_id, timestamp, body)).collect();
    vec![
        ("signature", tazapay_signature(current, event_id, body, created_at)),
        ("webhook-id", event_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", standard.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn rotation_signs_with_both_secrets_and_tazapay_with_the_new() {
        let secrets = vec!["whsec_bmV3bmV3bmV3".to_string(), "whsec_b2xkb2xkb2xk".to_string()];
        let h = headers(&secrets, "evt_1", "2024-01-01T00:00:00.000000Z", "{}", 1);
        let sig = &h.iter().find(|(k, _)| *k == "webhook-signature").unwrap().1;
        assert_eq!(sig.split(' ').count(), 2);
        let taz = &h.iter().find(|(k, _)| *k == "signature").unwrap().1;
        assert_eq!(taz, &tazapay_signature(&secrets[0], "evt_1", "{}", "2024-01-01T00:00:00.000000Z"));
    }
}
