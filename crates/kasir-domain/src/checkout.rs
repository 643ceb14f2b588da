//! The checkout: a hosted payment page for one payin, as Tazapay's. It holds what the merchant asked
//! for (amount, customer, where to send the customer after), its own state (`active` until it expires)
//! and what follows from its payin (`payment_status`, `amount_paid`, its attempts), which
//! [`Checkout::follow`] brings up to date whenever the payin is read or changed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{
    codes, Currency, CustomerDetails, DomainError, Event, EventType, IdKind, Payin, PayinStatus, PaymentAttempt,
    PaymentMethodType, Timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    Active,
    Expired,
}

impl CheckoutStatus {
    pub const ALL: [CheckoutStatus; 2] = [CheckoutStatus::Active, CheckoutStatus::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutStatus::Active => "active",
            CheckoutStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<CheckoutStatus> {
        CheckoutStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Where the money is: `unpaid` while no attempt is live, `processing` while one awaits the
/// customer, `paid` once the payin succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Unpaid,
    Processing,
    Paid,
}

impl PaymentStatus {
    pub fn of(payin: &Payin) -> PaymentStatus {
        match payin.status {
            PayinStatus::Succeeded => PaymentStatus::Paid,
            PayinStatus::RequiresAction | PayinStatus::Processing => PaymentStatus::Processing,
            PayinStatus::RequiresPaymentMethod | PayinStatus::Cancelled => PaymentStatus::Unpaid,
        }
    }
}

/// The checkout object, field for field as the wire shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checkout {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub amount_paid: i64,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    pub cancel_url: String,
    pub created_at: Timestamp,
    pub customer: String,
    pub customer_details: CustomerDetails,
    pub expires_at: Timestamp,
    pub invoice_currency: Currency,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// The payin behind the checkout (`pay_…`); `GET /v3/checkout/{id}` takes it too.
    pub payin: String,
    /// The attempts at paying, oldest first.
    pub payment_attempts: Vec<PaymentAttempt>,
    pub payment_methods: Vec<PaymentMethodType>,
    pub payment_status: PaymentStatus,
    pub reference_id: String,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    pub status: CheckoutStatus,
    pub success_url: String,
    /// The last path segment of `url`: what opens the page (and Tazapay's JS SDK's `clientToken`).
    pub token: String,
    pub transaction_description: String,
    /// The hosted page.
    pub url: String,
    pub webhook_url: String,
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub amount: i64,
    pub currency: Currency,
    pub transaction_description: String,
    pub customer_details: CustomerDetails,
    pub success_url: String,
    pub cancel_url: String,
    pub webhook_url: String,
    pub payment_methods: Vec<PaymentMethodType>,
    /// `None`: the default lifetime from now.
    pub expires_at: Option<Timestamp>,
    pub reference_id: String,
    pub billing_details: Option<Value>,
    pub shipping_details: Option<Value>,
    pub items: Vec<Value>,
    pub metadata: Option<Map<String, Value>>,
}

/// An unguessable page token: 24 random bytes, URL-safe base64 without padding (no `/`, `?`, `#`).
pub fn page_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Checkout {
    /// A new active checkout for `payin` (made from the same request, with its customer linked). Its
    /// page is `{pages}/checkout/{token}`.
    pub fn create(new: NewCheckout, payin: &Payin, expires_at: Timestamp, pages: &str, now: Timestamp) -> Checkout {
        let token = page_token();
        let mut c = Checkout {
            id: IdKind::Checkout.generate(),
            object: "checkout".into(),
            amount: new.amount,
            amount_paid: 0,
            billing_details: new.billing_details,
            cancel_url: new.cancel_url,
            created_at: now,
            customer: payin.customer.clone(),
            customer_details: new.customer_details,
            expires_at,
            invoice_currency: new.currency,
            items: new.items,
            metadata: new.metadata,
            payin: payin.id.clone(),
            payment_attempts: Vec::new(),
            payment_methods: new.payment_methods,
            payment_status: PaymentStatus::Unpaid,
            reference_id: new.reference_id,
            shipping_details: new.shipping_details,
            status: CheckoutStatus::Active,
            success_url: new.success_url,
            url: format!("{}/checkout/{token}", pages.trim_end_matches('/')),
            token,
            transaction_description: new.transaction_description,
            webhook_url: new.webhook_url,
        };
        c.follow(payin, Vec::new());
        c
    }

    pub fn event(&self, kind: EventType, now: Timestamp) -> Event {
        Event::new(kind, self, now)
    }

    /// Brings what follows from the payin up to date: `payment_status`, `amount_paid`, `customer`, the
    /// attempts.
    pub fn follow(&mut self, payin: &Payin, attempts: Vec<PaymentAttempt>) {
        self.payment_status = PaymentStatus::of(payin);
        self.amount_paid = payin.amount_paid;
        self.customer = payin.customer.clone();
        self.payment_attempts = attempts;
    }

    /// Whether the customer may still start paying at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.status == CheckoutStatus::Active && now < self.expires_at
    }

    /// Why the checkout cannot be expired now, if it cannot: it is already expired, or its payment is
    /// under way or done. Otherwise the caller cancels its payin, and the checkout follows.
    pub fn check_expirable(&self, payin: &Payin) -> Result<(), DomainError> {
        if self.status == CheckoutStatus::Expired {
            return Err(DomainError::conflict(
                codes::PAYIN_NO_LONGER_ACTIVE,
                format!("checkout {} has already expired", self.id),
                "status",
            ));
        }
        match PaymentStatus::of(payin) {
            PaymentStatus::Unpaid => Ok(()),
            status => Err(DomainError::conflict(
                codes::PAYIN_INVALID_STATE,
                format!(
                    "checkout {} cannot expire: its payment_status is {}",
                    self.id,
                    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
                ),
                "payment_status",
            )),
        }
    }

    /// The change its payin's new state makes to the checkout, and the events it emits: `checkout.paid`
    /// when the payin has just succeeded, `checkout.expired` when it was cancelled while the checkout
    /// was active.
    pub fn after_payin_change(&mut self, payin: &Payin, attempts: Vec<PaymentAttempt>, now: Timestamp) -> Vec<Event> {
        let was = self.payment_status;
        self.follow(payin, attempts);
        let mut events = Vec::new();
        if self.payment_status == PaymentStatus::Paid && was != PaymentStatus::Paid {
            events.push(self.event(EventType::CheckoutPaid, now));
        }
        if payin.status == PayinStatus::Cancelled && self.status == CheckoutStatus::Active {
            self.status = CheckoutStatus::Expired;
            events.push(self.event(EventType::CheckoutExpired, now));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let (a, b) = (page_token(), page_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
    }
}
