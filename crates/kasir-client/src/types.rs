//! The objects Kasir answers with, as the API writes them. Each keeps the fields it does not name in
//! `extra`, so nothing the server sends is lost to an older client.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A payin: one payment to collect. Amounts are minor units (IDR 77,000.00 is `7700000`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payin {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_paid: i64,
    pub invoice_currency: String,
    #[serde(default)]
    pub reference_id: String,
    #[serde(default)]
    pub transaction_description: String,
    /// The token of the payin's hosted page (`/pay/{client_token}`) and of Tazapay's JS SDK.
    #[serde(default)]
    pub client_token: String,
    #[serde(default)]
    pub latest_payment_attempt: String,
    #[serde(default)]
    pub webhook_url: String,
    pub created_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One push to the customer's wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentAttempt {
    pub id: String,
    pub payin: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub status_description: String,
    pub created_at: String,
    pub expires_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    pub country: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Money back to the customer's wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub payin: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub status_description: String,
    pub created_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A hosted payment page for one payin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    pub id: String,
    pub payin: String,
    pub status: String,
    pub amount: i64,
    /// The page the customer pays on.
    pub url: String,
    pub token: String,
    pub created_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What happened: `data` is the object as it was at that change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub data: Value,
}

impl Event {
    /// `data` as a payin, for the `payin.*` events.
    pub fn payin(&self) -> Option<Payin> {
        self.kind.starts_with("payin.").then(|| serde_json::from_value(self.data.clone()).ok()).flatten()
    }

    /// `data` as a refund, for the `refund.*` events.
    pub fn refund(&self) -> Option<Refund> {
        self.kind.starts_with("refund.").then(|| serde_json::from_value(self.data.clone()).ok()).flatten()
    }
}

/// One try at delivering an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub url: String,
    pub attempt: u32,
    pub attempted_at: String,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    #[serde(default)]
    pub error: String,
    pub succeeded: bool,
    /// When the next try is due, for a failed try that will be tried again.
    #[serde(default)]
    pub next_attempt_at: Option<String>,
}

/// Where an account's events go, besides each object's `webhook_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub status: String,
    pub created_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a DELETE answers: the object's id, and that it is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// One page of a newest-first list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}
