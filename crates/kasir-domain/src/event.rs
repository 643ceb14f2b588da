//! Events: what happened to an object, as the merchant's webhook receives it.

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
}

impl EventType {
    pub const ALL: [EventType; 11] = [
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
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether webhooks of this type are sent unless the account says otherwise.
    pub fn enabled_by_default(self) -> bool {
        !matches!(self, EventType::PayinCreated | EventType::PayinCancelled | EventType::PaymentAttemptSucceeded)
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

/// One try at delivering an event to a webhook URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub object: String,
    pub event: String,
    pub url: String,
    /// 1 for the first try of a delivery, counting up through its retries.
    pub attempt: u32,
    pub attempted_at: Timestamp,
    /// The receiver's HTTP status, or `null` when no answer arrived.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// Why the try failed (timeout, connection refused, non-2xx, refused address); `""` on success.
    pub error: String,
    pub succeeded: bool,
    /// When the next try is due, or `null` when none will follow.
    pub next_attempt_at: Option<Timestamp>,
}

/// How long to wait after each failed try before the next: the whole retry schedule, in one place.
/// Sixteen tries over about 3.2 days; the first retry comes after one second, as Tazapay's does.
pub const RETRY_SCHEDULE: [std::time::Duration; 15] = {
    use std::time::Duration as D;
    [
        D::from_secs(1),
        D::from_secs(5),
        D::from_secs(30),
        D::from_secs(2 * 60),
        D::from_secs(5 * 60),
        D::from_secs(30 * 60),
        D::from_secs(3600),
        D::from_secs(2 * 3600),
        D::from_secs(4 * 3600),
        D::from_secs(8 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
    ]
};

/// The longest `Retry-After` a receiver can ask for.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The wait before try `tries + 1`, or `None` when `tries` tries were the last. `jitter` in [-1, 1]
/// moves the wait by up to a tenth either way; a receiver's `Retry-After` lengthens it (up to a day).
pub fn retry_delay(tries: u32, retry_after: Option<std::time::Duration>, jitter: f64) -> Option<std::time::Duration> {
    let base = *RETRY_SCHEDULE.get(tries.checked_sub(1)? as usize)?;
    let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    Some(match retry_after {
        Some(ra) => jittered.max(ra.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_span_about_three_days_and_start_within_seconds() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(3 * 86400) && total < Duration::from_secs(4 * 86400), "{total:?}");
        assert_eq!(retry_delay(1, None, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(RETRY_SCHEDULE.len() as u32 + 1, None, 0.0), None);
        assert_eq!(retry_delay(0, None, 0.0), None);
    }

    #[test]
    fn jitter_and_retry_after() {
        assert_eq!(retry_delay(2, None, 1.0), Some(Duration::from_millis(5500)));
        assert_eq!(retry_delay(2, None, -1.0), Some(Duration::from_millis(4500)));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(60)), 0.0), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(999_999)), 0.0), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_delay(3, Some(Duration::from_secs(2)), 0.0), Some(Duration::from_secs(30)));
    }

    #[test]
    fn defaults_follow_the_contract() {
        let off: Vec<_> =
            EventType::ALL.into_iter().filter(|t| !t.enabled_by_default()).map(EventType::as_str).collect();
        assert_eq!(off, ["payin.created", "payin.cancelled", "payment_attempt.succeeded"]);
    }
}
