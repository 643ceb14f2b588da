//! Indonesian mobile numbers as OVO accepts them.
//!
//! OVO wallets belong to Indonesian mobile numbers only: calling code `62` and a national number of
//! 9 to 12 digits starting `8[1-35-9]`. Customers type them as `0812…`, `62812…` or `+62 812-…`; all
//! are normalised to the national number (`812…`). See `docs/decisions/0003-phone-numbers.md` for why
//! this is written here rather than taken from a general phone-number library.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Mode;

/// The number that bypasses validation in test mode, as the OVO sandbox guide says.
pub const SANDBOX_BYPASS_NUMBER: &str = "0123456789";

/// A phone number OVO can push a payment request to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Phone {
    pub calling_code: String,
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("calling_code must be 62 (Indonesia)")]
    CallingCode,
    #[error("number must be an Indonesian mobile number: 9 to 12 digits starting with 8, e.g. 81234567890")]
    Number,
}

impl Phone {
    /// Parses what a merchant sent. `calling_code` may be `62` or `+62`.
    pub fn parse(calling_code: &str, number: &str, mode: Mode) -> Result<Phone, PhoneError> {
        let cc = calling_code.trim().trim_start_matches('+');
        if cc != "62" {
            return Err(PhoneError::CallingCode);
        }
        if mode == Mode::Test && number.trim() == SANDBOX_BYPASS_NUMBER {
            return Ok(Phone { calling_code: "62".into(), number: SANDBOX_BYPASS_NUMBER.into() });
        }
        let national = national_number(number).ok_or(PhoneError::Number)?;
        Ok(Phone { calling_code: "62".into(), number: national })
    }

    /// The number with all but the last four digits hidden, for logs.
    pub fn masked(&self) -> String {
        let n = &self.number;
        let keep = n.len().saturating_sub(4);
        format!("+{} {}{}", self.calling_code, "*".repeat(keep), &n[keep..])
    }
}

fn national_number(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let national = if let Some(n) = digits.strip_prefix("62") {
        n
    } else if plus {
        return None;
    } else if let Some(n) = digits.strip_prefix('0') {
        n
    } else {
        &digits
    };
    let b = national.as_bytes();
    let ok = (9..=12).contains(&b.len()) && b[0] == b'8' && matches!(b[1], b'1'..=b'3' | b'5'..=b'9');
    ok.then(|| national.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: &str) -> Result<Phone, PhoneError> {
        Phone::parse("62", n, Mode::Live)
    }

    #[test]
    fn accepts_and_normalises_the_usual_forms() {
        for raw in ["81234567890", "081234567890", "6281234567890", "+6281234567890", "+62 812-3456-7890"] {
            assert_eq!(live(raw).unwrap().number, "81234567890", "{raw}");
        }
        assert_eq!(Phone::parse("+62", "812345678", Mode::Live).unwrap().number, "812345678");
    }

    #[test]
    fn rejects_what_is_not_an_indonesian_mobile() {
        for raw in
            ["", "8123", "71234567890", "84234567890", "8123456789012", "+6581234567", "81234abc890", "0123456789"]
        {
            assert_eq!(live(raw), Err(PhoneError::Number), "{raw}");
        }
        assert_eq!(Phone::parse("65", "81234567890", Mode::Live), Err(PhoneError::CallingCode));
    }

    #[test]
    fn sandbox_number_bypasses_validation_in_test_mode_only() {
        assert_eq!(Phone::parse("62", "0123456789", Mode::Test).unwrap().number, "0123456789");
        assert!(Phone::parse("62", "0123456789", Mode::Live).is_err());
    }

    #[test]
    fn masks_all_but_last_four() {
        assert_eq!(live("81234567890").unwrap().masked(), "+62 *******7890");
    }
}
