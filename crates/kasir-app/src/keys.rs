//! API keys: generation, the stored hash, and the first-start bootstrap.
//!
//! Secrets are 128 random alphanumerics, so a single SHA-256 is a sound stored form (no dictionary to
//! attack) and keeps authentication cheap on every request; see `docs/decisions/0004-api-keys.md`.

use kasir_domain::{Mode, Timestamp};
use rand::distributions::{Alphanumeric, Distribution, Uniform};
use rand::Rng;
use sha2::{Digest, Sha256};

use kasir_store::KeyRecord;

/// An access key and its secret, as shown to the operator once.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: String,
    pub mode: Mode,
}

/// Why a supplied key pair was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("access key must be ak_test_ or ak_live_ followed by 20 upper-case letters or digits")]
    Access,
    #[error("secret key must be sk_test_ or sk_live_ followed by 16 to 256 letters or digits")]
    Secret,
    #[error("access key and secret key must be of the same mode (test or live)")]
    ModeMismatch,
}

pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}

fn mode_of(key: &str, prefix: &str) -> Option<(Mode, String)> {
    let rest = key.strip_prefix(prefix)?;
    if let Some(r) = rest.strip_prefix("test_") {
        Some((Mode::Test, r.to_string()))
    } else {
        rest.strip_prefix("live_").map(|r| (Mode::Live, r.to_string()))
    }
}

/// The mode an access key belongs to, if it is well formed.
pub fn access_key_mode(access: &str) -> Option<Mode> {
    let (mode, body) = mode_of(access, "ak_")?;
    (body.len() == 20 && body.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())).then_some(mode)
}

impl KeyPair {
    pub fn generate(mode: Mode) -> KeyPair {
        let mut rng = rand::thread_rng();
        let upper = Uniform::from(0..36u8);
        let access_body: String = (0..20)
            .map(|_| {
                let i = upper.sample(&mut rng);
                (if i < 10 { b'0' + i } else { b'A' + i - 10 }) as char
            })
            .collect();
        let secret_body: String = (0..128).map(|_| rng.sample(Alphanumeric) as char).collect();
        KeyPair {
            access_key: format!("ak_{}_{access_body}", mode.as_str()),
            secret_key: format!("sk_{}_{secret_body}", mode.as_str()),
            mode,
        }
    }

    /// Checks a pair the operator supplies (for example the keys an integration already uses).
    pub fn parse(access_key: &str, secret_key: &str) -> Result<KeyPair, KeyFormatError> {
        let mode = access_key_mode(access_key).ok_or(KeyFormatError::Access)?;
        let (smode, sbody) = mode_of(secret_key, "sk_").ok_or(KeyFormatError::Secret)?;
        if !(16..=256).contains(&sbody.len()) || !sbody.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::Secret);
        }
        if smode != mode {
            return Err(KeyFormatError::ModeMismatch);
        }
        Ok(KeyPair { access_key: access_key.into(), secret_key: secret_key.into(), mode })
    }

    pub fn record(&self, account_id: &str, now: Timestamp) -> KeyRecord {
        KeyRecord {
            access_key: self.access_key.clone(),
            secret_hash: hash_secret(&self.secret_key),
            account_id: account_id.into(),
            mode: self.mode,
            created_at: now,
            revoked_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_AK: &str = "ak_test_YLSUAE0V4BHJH8X486OC";
    const SEED_SK: &str = "sk_test_HM8C7HERWPf85OfqB1xKMBI1iD6uVa12QcvTNYyRaHxQf5S9oieKh9Vsz87rxmHJZJW2LwUsCRcdVmDtwE8CEducHQtg5T3V9u6ImAinvGb28VyxSUYlM1LYiemO4Lqm";

    #[test]
    fn generated_pairs_have_the_documented_shape() {
        let p = KeyPair::generate(Mode::Live);
        assert!(p.access_key.starts_with("ak_live_") && p.access_key.len() == 28);
        assert!(p.secret_key.starts_with("sk_live_") && p.secret_key.len() == 136);
        assert_eq!(KeyPair::parse(&p.access_key, &p.secret_key).unwrap().mode, Mode::Live);
    }

    #[test]
    fn the_seed_pair_parses() {
        assert_eq!(KeyPair::parse(SEED_AK, SEED_SK).unwrap().mode, Mode::Test);
    }

    #[test]
    fn malformed_pairs_are_refused() {
        assert_eq!(KeyPair::parse("ak_test_short", SEED_SK).unwrap_err(), KeyFormatError::Access);
        assert_eq!(KeyPair::parse(SEED_AK, "sk_test_x!").unwrap_err(), KeyFormatError::Secret);
        let live_sk = SEED_SK.replace("sk_test_", "sk_live_");
        assert_eq!(KeyPair::parse(SEED_AK, &live_sk).unwrap_err(), KeyFormatError::ModeMismatch);
    }
}
