//! The payment methods Kasir charges. Each method is one module holding what sets it apart (its wire
//! name, currency, amount limits, refund policy and details); adding a method is a new module and an arm
//! in each `match` below.

pub mod ovo;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::error::{DomainError, FieldError};
use crate::{codes, Currency, Phone};

/// A method's wire name (`payment_method_details.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum PaymentMethodType {
    #[serde(rename = "ovo_idr")]
    OvoIdr,
}

/// Whether a method takes back part of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPolicy {
    /// Only the whole payin (OVO).
    WholeOnly,
    /// Any amount up to what was paid.
    Partial,
}

/// What a method is: everything a rule about it needs.
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    /// What customers call it.
    pub label: &'static str,
    pub currency: Currency,
    pub default_limits: AmountLimits,
    pub refunds: RefundPolicy,
}

impl PaymentMethodType {
    pub const ALL: [PaymentMethodType; 1] = [PaymentMethodType::OvoIdr];

    pub fn method(self) -> &'static Method {
        match self {
            PaymentMethodType::OvoIdr => &ovo::METHOD,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.method().name
    }

    pub fn parse(s: &str) -> Option<PaymentMethodType> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn currency(self) -> Currency {
        self.method().currency
    }

    /// The methods that charge `currency`.
    pub fn for_currency(currency: Currency) -> impl Iterator<Item = PaymentMethodType> {
        Self::ALL.into_iter().filter(move |m| m.currency() == currency)
    }

    /// The wire names of every method, for messages: `ovo_idr`.
    pub fn names() -> String {
        Self::ALL.map(PaymentMethodType::as_str).join(", ")
    }

    /// Checks an amount (minor units) in `currency` against the method's currency and `limits`.
    pub fn check_amount(self, minor: i64, currency: Currency, limits: AmountLimits) -> Result<(), DomainError> {
        let m = self.method();
        if currency != m.currency {
            return Err(DomainError::rejected(
                codes::UNSUPPORTED_CURRENCY,
                format!("{} only charges {}", m.name, m.currency),
                "invoice_currency",
            ));
        }
        currency.check_whole_units(minor)?;
        if minor < limits.min || minor > limits.max {
            return Err(DomainError::rejected(
                codes::AMOUNT_OUTSIDE_LIMITS,
                format!("amount must be between {} and {} for {} (minor units)", limits.min, limits.max, m.name),
                "amount",
            ));
        }
        Ok(())
    }
}

/// Per-method amount limits, in minor units, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountLimits {
    pub min: i64,
    pub max: i64,
}

/// The amount limits of every method: each method's defaults unless set otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodLimits([AmountLimits; PaymentMethodType::ALL.len()]);

impl Default for MethodLimits {
    fn default() -> Self {
        MethodLimits(PaymentMethodType::ALL.map(|m| m.method().default_limits))
    }
}

impl MethodLimits {
    pub fn of(&self, method: PaymentMethodType) -> AmountLimits {
        self.0[method as usize]
    }

    pub fn with(mut self, method: PaymentMethodType, limits: AmountLimits) -> Self {
        self.0[method as usize] = limits;
        self
    }
}

/// `payment_method_details` as stored and shown: the method's details under its name, and `type`, e.g.
/// `{"ovo_idr": {"phone": {…}}, "type": "ovo_idr"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMethodDetails {
    OvoIdr(ovo::OvoDetails),
}

impl PaymentMethodDetails {
    pub fn ovo(phone: Phone) -> Self {
        PaymentMethodDetails::OvoIdr(ovo::OvoDetails { phone })
    }

    pub fn kind(&self) -> PaymentMethodType {
        match self {
            PaymentMethodDetails::OvoIdr(_) => PaymentMethodType::OvoIdr,
        }
    }

    /// The wallet's phone number, for methods that push to a phone.
    pub fn phone(&self) -> Option<&Phone> {
        match self {
            PaymentMethodDetails::OvoIdr(d) => Some(&d.phone),
        }
    }
}

/// The wire form, for decoding and for the OpenAPI document.
#[derive(Deserialize, ToSchema)]
struct Wire {
    #[serde(default)]
    ovo_idr: Option<ovo::OvoDetails>,
    #[serde(rename = "type")]
    kind: PaymentMethodType,
}

impl Serialize for PaymentMethodDetails {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match self {
            PaymentMethodDetails::OvoIdr(d) => m.serialize_entry(self.kind().as_str(), d)?,
        }
        m.serialize_entry("type", &self.kind())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for PaymentMethodDetails {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let missing = |m: PaymentMethodType| serde::de::Error::custom(format!("{} is missing", m.as_str()));
        match w.kind {
            PaymentMethodType::OvoIdr => w.ovo_idr.map(PaymentMethodDetails::OvoIdr).ok_or_else(|| missing(w.kind)),
        }
    }
}

impl utoipa::PartialSchema for PaymentMethodDetails {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        Wire::schema()
    }
}

impl ToSchema for PaymentMethodDetails {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <Wire as ToSchema>::schemas(schemas);
    }
}

/// An unsupported method's wire name, as a field error.
pub fn unsupported(name: &str, remarks: impl Into<String>) -> FieldError {
    FieldError::new(
        codes::UNSUPPORTED_PAYMENT_METHOD,
        format!("payment method {name:?} is not supported; Kasir charges {}", PaymentMethodType::names()),
        remarks,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    #[test]
    fn details_keep_their_wire_shape() {
        let d = PaymentMethodDetails::ovo(Phone::parse("62", "81234567890", Mode::Live).unwrap());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#"{"ovo_idr":{"phone":{"calling_code":"62","number":"81234567890"}},"type":"ovo_idr"}"#);
        assert_eq!(serde_json::from_str::<PaymentMethodDetails>(&json).unwrap(), d);
        assert!(serde_json::from_str::<PaymentMethodDetails>(r#"{"type":"ovo_idr"}"#).is_err());
    }

    #[test]
    fn limits_default_per_method_and_can_be_set() {
        let l = MethodLimits::default();
        assert_eq!(l.of(PaymentMethodType::OvoIdr), ovo::METHOD.default_limits);
        let set = l.with(PaymentMethodType::OvoIdr, AmountLimits { min: 1, max: 2 });
        assert_eq!(set.of(PaymentMethodType::OvoIdr), AmountLimits { min: 1, max: 2 });
    }
}
