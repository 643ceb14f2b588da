//! Money is integers: `i64` minor units (two implied decimals for every currency) and a currency type.

use serde::{Deserialize, Serialize};

/// The currencies Kasir can collect. OVO moves Indonesian rupiah only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Currency {
    #[serde(rename = "IDR")]
    Idr,
}

impl Currency {
    pub const ALL: [Currency; 1] = [Currency::Idr];

    /// Parses an ISO 4217 code, in any letter case.
    pub fn parse(code: &str) -> Option<Currency> {
        if code.eq_ignore_ascii_case("IDR") {
            Some(Currency::Idr)
        } else {
            None
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Currency::Idr => "IDR",
        }
    }

    /// The unit's name in English, plural.
    pub const fn unit_name(self) -> &'static str {
        match self {
            Currency::Idr => "rupiah",
        }
    }

    /// Whether amounts must be whole units (no minor part). Rupiah have had no fractions in use for
    /// decades, and OVO moves none.
    pub const fn whole_units_only(self) -> bool {
        match self {
            Currency::Idr => true,
        }
    }

    /// An amount as the currency's own people write it, for pages: `Rp 150.000` (a dot between thousands,
    /// and the minor part after a comma only when there is one: `Rp 1.500,50`).
    pub fn display(self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let (units, cents) = (minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
        let digits = units.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push('.');
            }
            grouped.push(d);
        }
        let symbol = match self {
            Currency::Idr => "Rp",
        };
        match cents {
            0 => format!("{sign}{symbol} {grouped}"),
            c => format!("{sign}{symbol} {grouped},{c:02}"),
        }
    }

    /// What every amount in this currency is a multiple of, in minor units.
    pub const fn minor_step(self) -> i64 {
        if self.whole_units_only() {
            100
        } else {
            1
        }
    }

    /// Refuses an amount with a minor part in a currency that has none in use.
    pub fn check_whole_units(self, minor: i64) -> Result<(), crate::DomainError> {
        if minor % self.minor_step() != 0 {
            return Err(crate::DomainError::rejected(
                crate::codes::AMOUNT_NOT_WHOLE_UNITS,
                format!(
                    "amount must be whole {}: the last two digits of an {self} amount must be 00",
                    self.unit_name()
                ),
                "amount",
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A positive amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(i64);

/// Why a number is not an [`Amount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be greater than 0")]
    NotPositive,
    #[error("must be a whole number of minor units (no fraction)")]
    NotInteger,
    #[error("is too large")]
    TooLarge,
}

impl Amount {
    /// The largest amount accepted anywhere: far beyond any wallet limit, far below overflow when summed.
    pub const MAX: i64 = 1_000_000_000_000_000;

    pub fn new(minor: i64) -> Result<Amount, AmountError> {
        if minor <= 0 {
            Err(AmountError::NotPositive)
        } else if minor > Self::MAX {
            Err(AmountError::TooLarge)
        } else {
            Ok(Amount(minor))
        }
    }

    /// Parses a JSON number as it arrived on the wire. A whole number written with a fraction of zero
    /// (`20000000.0`, as PHP's `json_encode` writes Tazapay's WooCommerce plugin's amounts) is that whole
    /// number; a real fraction is refused.
    pub fn from_json(n: &serde_json::Number) -> Result<Amount, AmountError> {
        if let Some(i) = n.as_i64() {
            return Amount::new(i);
        }
        if n.as_u64().is_some() {
            return Err(AmountError::TooLarge);
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f <= 0.0 {
            Err(AmountError::NotPositive)
        } else if f.fract() != 0.0 {
            Err(AmountError::NotInteger)
        } else if f > Self::MAX as f64 {
            Err(AmountError::TooLarge)
        } else {
            Amount::new(f as i64)
        }
    }

    pub const fn minor(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_as_indonesians_write_them() {
        assert_eq!(Currency::Idr.display(15_000_000), "Rp 150.000");
        assert_eq!(Currency::Idr.display(100), "Rp 1");
        assert_eq!(Currency::Idr.display(200_000_000_000), "Rp 2.000.000.000");
        assert_eq!(Currency::Idr.display(150_050), "Rp 1.500,50");
        assert_eq!(Currency::Idr.display(0), "Rp 0");
    }

    fn num(s: &str) -> serde_json::Number {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn amounts_must_be_positive_integers_in_range() {
        assert_eq!(Amount::from_json(&num("10000000")).unwrap().minor(), 10_000_000);
        assert_eq!(Amount::from_json(&num("0")), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&num("-5")), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&num("-5.5")), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&num("100.5")), Err(AmountError::NotInteger));
        assert_eq!(Amount::from_json(&num("18446744073709551615")), Err(AmountError::TooLarge));
        assert_eq!(Amount::from_json(&num("1e30")), Err(AmountError::TooLarge));
        assert_eq!(Amount::from_json(&num("20000000.0")).unwrap().minor(), 20_000_000);
        assert_eq!(Amount::from_json(&num("1e7")).unwrap().minor(), 10_000_000);
        assert_eq!(Amount::from_json(&num("20000000.5")), Err(AmountError::NotInteger));
        assert_eq!(Amount::new(Amount::MAX + 1), Err(AmountError::TooLarge));
    }

    #[test]
    fn whole_rupiah_have_two_trailing_zeros() {
        assert!(Currency::Idr.check_whole_units(10_000).is_ok());
        assert!(Currency::Idr.check_whole_units(10_050).is_err());
    }

    #[test]
    fn currency_parses_any_case() {
        assert_eq!(Currency::parse("idr"), Some(Currency::Idr));
        assert_eq!(Currency::parse("USD"), None);
    }
}
