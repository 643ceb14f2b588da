//! Events: what happened to an object, as the merchant's webhook receives it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{IdKind, Timestamp};

/// Every event type of the wire contract, with whether it is sent by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "payin.created")]
    PayinCreated,
    #[serde(rename = "payin.requires_payment_method")]
    PayinRequiresPaymentMethod,
    #[serde(rename = "payin.requires_action")]
    PayinRequiresAction,
    #[serde(rename = "payin.processing")]
    PayinProcessing,
    #[serde(rename = "payin.succeeded")]
    PayinSucceeded,
    #[serde(rename = "payin.cancelled")]
    PayinCancelled,
    #[serde(rename = "payment_attempt.failed")]
    PaymentAttemptFailed,
    #[serde(rename = "payment_attempt.succeeded")]
    PaymentAttemptSucceeded,
    #[serde(rename = "refund.pending")]
    RefundPending,
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded,
    #[serde(rename = "refund.failed")]
    RefundFailed,
    #[serde(rename = "checkout.created")]
    CheckoutCreated,
    #[serde(rename = "checkout.paid")]
    CheckoutPaid,
    #[serde(rename = "checkout.expired")]
    CheckoutExpired,
    #[serde(rename = "payment_attempt.created")]
    PaymentAttemptCreated,
}

impl EventType {
    pub const ALL: [EventType; 15] = [
        EventType::PayinCreated,
        EventType::PayinRequiresPaymentMethod,
        EventType::PayinRequiresAction,
        EventType::PayinProcessing,
        EventType::PayinSucceeded,
        EventType::PayinCancelled,
        EventType::PaymentAttemptFailed,
        EventType::PaymentAttemptSucceeded,
        EventType::RefundPending,
        EventType::RefundSucceeded,
        EventType::RefundFailed,
        EventType::CheckoutCreated,
        EventType::CheckoutPaid,
        EventType::CheckoutExpired,
        EventType::PaymentAttemptCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PayinCreated => "payin.created",
            EventType::PayinRequiresPaymentMethod => "payin.requires_payment_method",
            EventType::PayinRequiresAction => "payin.requires_action",
            EventType::PayinProcessing => "payin.processing",
            EventType::PayinSucceeded => "payin.succeeded",
            EventType::PayinCancelled => "payin.cancelled",
            EventType::PaymentAttemptFailed => "payment_attempt.failed",
            EventType::PaymentAttemptSucceeded => "payment_attempt.succeeded",
            EventType::RefundPending => "refund.pending",
            EventType::RefundSucceeded => "refund.succeeded",
            EventType::RefundFailed => "refund.failed",
            EventType::CheckoutCreated => "checkout.created",
            EventType::CheckoutPaid => "checkout.paid",
            EventType::CheckoutExpired => "checkout.expired",
            EventType::PaymentAttemptCreated => "payment_attempt.created",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Its place in [`EventType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// When an event of this type happens, in the words of `docs/webhooks.md` (generated from this).
    pub fn when(self) -> &'static str {
        match self {
            EventType::PayinCreated => "a payin is created",
            EventType::PayinRequiresPaymentMethod => "an attempt failed; the payin can be confirmed again",
            EventType::PayinRequiresAction => "confirm: the push is on its way to the customer",
            EventType::PayinProcessing => "(for methods that need it)",
            EventType::PayinSucceeded => "the customer paid",
            EventType::PayinCancelled => "the payin was cancelled (by the merchant, or as its checkout expired)",
            EventType::PaymentAttemptFailed => "an attempt failed (`status_description` says why)",
            EventType::PaymentAttemptSucceeded => "an attempt succeeded",
            EventType::RefundPending => "a refund was asked for",
            EventType::RefundSucceeded => "the money is back with the customer",
            EventType::RefundFailed => "a refund failed (`status_description` says why)",
            EventType::CheckoutCreated => "a checkout is created",
            EventType::CheckoutPaid => "a checkout's payin succeeded (`data.payment_status` is `paid`)",
            EventType::CheckoutExpired => {
                "a checkout expired (at `expires_at`, by `POST …/expire`, or its payin was cancelled)"
            }
            EventType::PaymentAttemptCreated => "a push was sent (an attempt is created)",
        }
    }

    /// Whether webhooks of this type are sent unless the account says otherwise.
    pub fn enabled_by_default(self) -> bool {
        !matches!(
            self,
            EventType::PayinCreated
                | EventType::PayinCancelled
                | EventType::PaymentAttemptSucceeded
                | EventType::CheckoutCreated
                | EventType::PaymentAttemptCreated
        )
    }

    /// The kind of object the event is about (its `data`).
    pub fn object_kind(self) -> IdKind {
        match self {
            EventType::PayinCreated
            | EventType::PayinRequiresPaymentMethod
            | EventType::PayinRequiresAction
            | EventType::PayinProcessing
            | EventType::PayinSucceeded
            | EventType::PayinCancelled => IdKind::Payin,
            EventType::PaymentAttemptFailed | EventType::PaymentAttemptSucceeded | EventType::PaymentAttemptCreated => {
                IdKind::PaymentAttempt
            }
            EventType::RefundPending | EventType::RefundSucceeded | EventType::RefundFailed => IdKind::Refund,
            EventType::CheckoutCreated | EventType::CheckoutPaid | EventType::CheckoutExpired => IdKind::Checkout,
        }
    }
}

/// An account's choice of which event types are sent as webhooks: its overrides, and each type's
/// default where it has none. Stored as `{"payin.created": true, …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventSwitches(BTreeMap<String, bool>);

impl EventSwitches {
    pub fn is_on(&self, kind: EventType) -> bool {
        self.0.get(kind.as_str()).copied().unwrap_or(kind.enabled_by_default())
    }

    pub fn set(&mut self, kind: EventType, on: bool) {
        self.0.insert(kind.as_str().to_string(), on);
    }
}

/// An event as stored and as delivered: `data` is the object as it was at that change.
///
/// `data` is kept as the JSON text it was written as: an event is serialised once, when the change
/// happens, and every read and delivery passes those bytes on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: Timestamp,
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: String,
}

impl Event {
    /// An event about `object` as it is now.
    pub fn new<T: Serialize + ?Sized>(kind: EventType, object: &T, now: Timestamp) -> Event {
        let data = serde_json::value::to_raw_value(object).expect("objects serialise");
        Event { id: IdKind::Event.generate(), object: "event".into(), kind, created_at: now, data }
    }

    /// The id of the object the event is about.
    pub fn object_id(&self) -> String {
        serde_json::from_str::<IdOnly>(self.data.get()).map(|o| o.id).unwrap_or_default()
    }

    /// `data` as a JSON value.
    pub fn data_value(&self) -> Value {
        serde_json::from_str(self.data.get()).unwrap_or(Value::Null)
    }
}

/// A new webhook signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks has it.
pub fn new_webhook_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_override_the_defaults() {
        let mut s = EventSwitches::default();
        assert!(s.is_on(EventType::PayinSucceeded) && !s.is_on(EventType::PayinCreated));
        s.set(EventType::PayinCreated, true);
        s.set(EventType::PayinSucceeded, false);
        assert!(!s.is_on(EventType::PayinSucceeded) && s.is_on(EventType::PayinCreated));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"payin.created":true,"payin.succeeded":false}"#);
    }

    #[test]
    fn each_type_is_at_its_index() {
        for (i, t) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i, "{}", t.as_str());
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let off: Vec<_> =
            EventType::ALL.into_iter().filter(|t| !t.enabled_by_default()).map(EventType::as_str).collect();
        assert_eq!(
            off,
            [
                "payin.created",
                "payin.cancelled",
                "payment_attempt.succeeded",
                "checkout.created",
                "payment_attempt.created"
            ]
        );
    }
}
