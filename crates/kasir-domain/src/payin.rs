//! The payin and its payment attempts: the state machine of one collection.
//!
//! Transitions are plain functions of (state, command, now). They return the new state and the effects
//! to persist with it (events, a new attempt, a new customer); the store writes them in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::DomainError;
use crate::{
    codes, Amount, AttemptStatus, Currency, Customer, CustomerDetails, Event, EventType, FailureReason, IdKind,
    MethodLimits, Outcome, PaymentAttempt, PaymentMethodDetails, Timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayinStatus {
    RequiresPaymentMethod,
    RequiresAction,
    Processing,
    Succeeded,
    Cancelled,
}

impl PayinStatus {
    pub const ALL: [PayinStatus; 5] = [
        PayinStatus::RequiresPaymentMethod,
        PayinStatus::RequiresAction,
        PayinStatus::Processing,
        PayinStatus::Succeeded,
        PayinStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayinStatus::RequiresPaymentMethod => "requires_payment_method",
            PayinStatus::RequiresAction => "requires_action",
            PayinStatus::Processing => "processing",
            PayinStatus::Succeeded => "succeeded",
            PayinStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<PayinStatus> {
        PayinStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No command changes a payin in a final state, but for its metadata and reference.
    pub fn is_final(self) -> bool {
        matches!(self, PayinStatus::Succeeded | PayinStatus::Cancelled)
    }
}

/// Settings the payin rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayinRules {
    /// Each payment method's amount limits.
    pub limits: MethodLimits,
    /// How long the customer has to approve the push (`latest_payment_attempt_data.expires_at`).
    pub approval_window: std::time::Duration,
    /// How long a checkout stays open when its request sets no `expires_at`.
    pub checkout_lifetime: std::time::Duration,
}

impl Default for PayinRules {
    fn default() -> Self {
        PayinRules {
            limits: MethodLimits::default(),
            approval_window: std::time::Duration::from_secs(300),
            checkout_lifetime: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LatestAttemptData {
    pub expires_at: Timestamp,
}

/// The payin object, field for field as the wire shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payin {
    pub amount: i64,
    pub amount_paid: i64,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    pub cancel_url: String,
    pub cancelled_at: Option<Timestamp>,
    pub client_token: String,
    pub confirm: bool,
    pub created_at: Timestamp,
    pub customer: String,
    pub customer_details: Option<CustomerDetails>,
    pub id: String,
    pub invoice_currency: Currency,
    pub latest_payment_attempt: String,
    pub latest_payment_attempt_data: Option<LatestAttemptData>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub object: String,
    pub paid_in_excess: bool,
    pub partially_paid: bool,
    #[schema(value_type = Vec<Object>)]
    pub payment_attempts: Vec<Value>,
    pub payment_method_details: Option<PaymentMethodDetails>,
    pub reference_id: String,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    pub statement_descriptor: String,
    pub status: PayinStatus,
    pub status_description: String,
    pub success_url: String,
    #[schema(value_type = Vec<Object>)]
    pub transaction_data: Vec<Value>,
    pub transaction_description: String,
    #[schema(value_type = Vec<Object>)]
    pub transaction_documents: Vec<Value>,
    pub webhook_url: String,
}

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct NewPayin {
    pub transaction_description: String,
    pub details: PayinFields,
}

/// The optional fields that create, confirm and update share. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PayinFields {
    pub customer_details: Option<CustomerDetails>,
    pub billing_details: Option<Value>,
    pub shipping_details: Option<Value>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub webhook_url: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub reference_id: Option<String>,
    pub statement_descriptor: Option<String>,
    pub transaction_description: Option<String>,
    pub transaction_documents: Option<Vec<Value>>,
}

impl PayinFields {
    /// Names of the fields set, other than metadata and reference_id.
    fn touched_beyond_bookkeeping(&self) -> Option<&'static str> {
        [
            ("customer_details", self.customer_details.is_some()),
            ("billing_details", self.billing_details.is_some()),
            ("shipping_details", self.shipping_details.is_some()),
            ("success_url", self.success_url.is_some()),
            ("cancel_url", self.cancel_url.is_some()),
            ("webhook_url", self.webhook_url.is_some()),
            ("statement_descriptor", self.statement_descriptor.is_some()),
            ("transaction_description", self.transaction_description.is_some()),
            ("transaction_documents", self.transaction_documents.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }
}

/// A validated confirm request. `customer` is the stored customer the request named, if any.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub payment_method: PaymentMethodDetails,
    pub customer: Option<Customer>,
    pub fields: PayinFields,
}

/// What a confirm produces besides the new payin.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub attempt: PaymentAttempt,
    pub new_customer: Option<Customer>,
    pub events: Vec<Event>,
}

/// A payin's `client_token`: 32 bytes in URL-safe base64, 44 characters as Tazapay's are. The first
/// 13 bytes are the payin's xid (its 20 base32hex digits, five bits each), so the page the token opens
/// (`/pay/{client_token}`) finds its payin without an index of tokens; the other 19 are random, and
/// they alone make the token unguessable (152 bits).
fn client_token(id: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    let xid = id.strip_prefix(IdKind::Payin.prefix()).expect("a payin id");
    let digits: Vec<u8> =
        xid.bytes().map(|b| crate::id::ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u8).collect();
    pack_5bit(&digits, &mut bytes[..13]);
    let secret: [u8; 19] = rand::random();
    bytes[13..].copy_from_slice(&secret);
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// Writes 5-bit values into `out`, most significant bit first.
fn pack_5bit(values: &[u8], out: &mut [u8]) {
    for (i, v) in values.iter().enumerate() {
        for bit in 0..5 {
            if v & (0x10 >> bit) != 0 {
                let at = i * 5 + bit;
                out[at / 8] |= 0x80 >> (at % 8);
            }
        }
    }
}

/// The payin a `client_token` names, when it has the shape [`client_token`] gives it.
pub fn payin_of_client_token(token: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE.decode(token).ok().filter(|b| b.len() == 32)?;
    let mut id = String::from(IdKind::Payin.prefix());
    for i in 0..20 {
        let mut v = 0u8;
        for bit in 0..5 {
            let at = i * 5 + bit;
            v = (v << 1) | ((bytes[at / 8] >> (7 - at % 8)) & 1);
        }
        id.push(crate::id::ALPHABET[v as usize] as char);
    }
    Some(id)
}

impl Payin {
    /// A new payin in `requires_payment_method`, with its `payin.created` event.
    pub fn create(amount: Amount, currency: Currency, new: NewPayin, now: Timestamp) -> (Payin, Vec<Event>) {
        let f = new.details;
        let id = IdKind::Payin.generate();
        let payin = Payin {
            amount: amount.minor(),
            amount_paid: 0,
            billing_details: f.billing_details,
            cancel_url: f.cancel_url.unwrap_or_default(),
            cancelled_at: None,
            client_token: client_token(&id),
            confirm: false,
            created_at: now,
            customer: String::new(),
            customer_details: f.customer_details,
            id,
            invoice_currency: currency,
            latest_payment_attempt: String::new(),
            latest_payment_attempt_data: None,
            metadata: f.metadata,
            object: "payin".into(),
            paid_in_excess: false,
            partially_paid: false,
            payment_attempts: Vec::new(),
            payment_method_details: None,
            reference_id: f.reference_id.unwrap_or_default(),
            shipping_details: f.shipping_details,
            statement_descriptor: f.statement_descriptor.unwrap_or_default(),
            status: PayinStatus::RequiresPaymentMethod,
            status_description: String::new(),
            success_url: f.success_url.unwrap_or_default(),
            transaction_data: Vec::new(),
            transaction_description: new.transaction_description,
            transaction_documents: f.transaction_documents.unwrap_or_default(),
            webhook_url: f.webhook_url.unwrap_or_default(),
        };
        let event = payin.event(EventType::PayinCreated, now);
        (payin, vec![event])
    }

    pub fn event(&self, kind: EventType, now: Timestamp) -> Event {
        Event::new(kind, self, now)
    }

    fn apply(&mut self, f: PayinFields) {
        if let Some(v) = f.customer_details {
            self.customer_details = Some(v);
        }
        if let Some(v) = f.billing_details {
            self.billing_details = Some(v);
        }
        if let Some(v) = f.shipping_details {
            self.shipping_details = Some(v);
        }
        if let Some(v) = f.success_url {
            self.success_url = v;
        }
        if let Some(v) = f.cancel_url {
            self.cancel_url = v;
        }
        if let Some(v) = f.webhook_url {
            self.webhook_url = v;
        }
        if let Some(v) = f.metadata {
            self.metadata = Some(v);
        }
        if let Some(v) = f.reference_id {
            self.reference_id = v;
        }
        if let Some(v) = f.statement_descriptor {
            self.statement_descriptor = v;
        }
        if let Some(v) = f.transaction_description {
            self.transaction_description = v;
        }
        if let Some(v) = f.transaction_documents {
            self.transaction_documents = v;
        }
    }

    fn refuse_if_final(&self) -> Result<(), DomainError> {
        if self.status.is_final() {
            return Err(DomainError::conflict(
                codes::PAYIN_NO_LONGER_ACTIVE,
                format!("payin {} is no longer active: its status is {}", self.id, self.status.as_str()),
                "status",
            ));
        }
        Ok(())
    }

    /// The stored customer this payin is for: its id, and its details unless the payin has its own.
    pub fn link_customer(&mut self, customer: &Customer) {
        self.customer = customer.id.clone();
        if self.customer_details.is_none() {
            self.customer_details = Some(customer.details());
        }
    }

    /// Confirm: start a payment attempt. One live attempt at a time.
    pub fn confirm(&mut self, c: Confirmation, rules: &PayinRules, now: Timestamp) -> Result<Confirmed, DomainError> {
        self.refuse_if_final()?;
        if matches!(self.status, PayinStatus::RequiresAction | PayinStatus::Processing) {
            return Err(DomainError::conflict(
                codes::PAYIN_INVALID_STATE,
                format!(
                    "payin {} already has a payment attempt awaiting the customer ({}); wait for its outcome or cancel the payin",
                    self.id, self.latest_payment_attempt
                ),
                "status",
            ));
        }
        let method = c.payment_method.kind();
        method.check_amount(self.amount, self.invoice_currency, rules.limits.of(method))?;
        self.apply(c.fields);

        let mut new_customer = None;
        if let Some(existing) = &c.customer {
            self.link_customer(existing);
        } else if self.customer.is_empty() {
            if let Some(details) = &self.customer_details {
                let cus = Customer::new(details, String::new(), None, now);
                self.customer = cus.id.clone();
                new_customer = Some(cus);
            }
        }

        let expires_at = now.plus(rules.approval_window);
        let attempt = PaymentAttempt {
            amount: self.amount,
            charge_currency: self.invoice_currency,
            created_at: now,
            customer: self.customer.clone(),
            customer_details: self.customer_details.clone(),
            expires_at,
            id: IdKind::PaymentAttempt.generate(),
            metadata: None,
            object: "payment_attempt".into(),
            payin: self.id.clone(),
            payment_method_details: c.payment_method.clone(),
            reference_id: self.reference_id.clone(),
            refunded: false,
            status: AttemptStatus::RequiresAction,
            status_description: String::new(),
            response: None,
        };
        self.confirm = true;
        self.status = PayinStatus::RequiresAction;
        self.status_description = String::new();
        self.payment_method_details = Some(c.payment_method);
        self.latest_payment_attempt = attempt.id.clone();
        self.latest_payment_attempt_data = Some(LatestAttemptData { expires_at });
        let events = vec![self.event(EventType::PayinRequiresAction, now)];
        Ok(Confirmed { attempt, new_customer, events })
    }

    /// Update without confirming. A payin in a final state takes only `metadata` and `reference_id`.
    pub fn update(&mut self, f: PayinFields) -> Result<(), DomainError> {
        if self.status.is_final() {
            if let Some(field) = f.touched_beyond_bookkeeping() {
                return Err(DomainError::conflict(
                    codes::PAYIN_NO_LONGER_ACTIVE,
                    format!(
                        "payin {} is {}: only metadata and reference_id can still change",
                        self.id,
                        self.status.as_str()
                    ),
                    field,
                ));
            }
        }
        self.apply(f);
        Ok(())
    }

    /// Cancel. The live attempt, if any, fails with it.
    pub fn cancel(
        &mut self,
        live_attempt: Option<&mut PaymentAttempt>,
        now: Timestamp,
    ) -> Result<Vec<Event>, DomainError> {
        self.refuse_if_final()?;
        if self.status == PayinStatus::Processing {
            return Err(DomainError::conflict(
                codes::PAYIN_INVALID_STATE,
                format!("payin {} is processing a payment and cannot be cancelled now", self.id),
                "status",
            ));
        }
        let mut events = Vec::new();
        if let Some(a) = live_attempt {
            if !a.status.is_final() {
                a.status = AttemptStatus::Failed;
                a.status_description = FailureReason::Cancelled.description();
                events.push(Event::new(EventType::PaymentAttemptFailed, &*a, now));
            }
        }
        self.status = PayinStatus::Cancelled;
        self.cancelled_at = Some(now);
        events.push(self.event(EventType::PayinCancelled, now));
        Ok(events)
    }

    /// Applies the wallet's outcome to the payin's live attempt. `None` when there is nothing to do: the
    /// attempt already has its outcome (a late timer, a repeated sandbox call).
    pub fn settle(&mut self, attempt: &mut PaymentAttempt, outcome: Outcome, now: Timestamp) -> Option<Vec<Event>> {
        if attempt.status.is_final() || attempt.payin != self.id || self.latest_payment_attempt != attempt.id {
            return None;
        }
        let attempt_event = |a: &PaymentAttempt, kind| Event::new(kind, a, now);
        match outcome {
            Outcome::Succeeded => {
                attempt.status = AttemptStatus::Succeeded;
                attempt.status_description = String::new();
                self.status = PayinStatus::Succeeded;
                self.status_description = String::new();
                self.amount_paid = self.amount;
                Some(vec![
                    attempt_event(attempt, EventType::PaymentAttemptSucceeded),
                    self.event(EventType::PayinSucceeded, now),
                ])
            }
            Outcome::Failed(reason) => {
                attempt.status = AttemptStatus::Failed;
                attempt.status_description = reason.description();
                self.status = PayinStatus::RequiresPaymentMethod;
                self.status_description = attempt.status_description.clone();
                Some(vec![
                    attempt_event(attempt, EventType::PaymentAttemptFailed),
                    self.event(EventType::PayinRequiresPaymentMethod, now),
                ])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_token_is_shaped_as_tazapays_and_names_its_payin() {
        for _ in 0..1000 {
            let id = IdKind::Payin.generate();
            let token = client_token(&id);
            assert_eq!(token.len(), 44, "{token}");
            assert!(token.ends_with('='), "{token}");
            assert_eq!(payin_of_client_token(&token).as_deref(), Some(id.as_str()));
            assert_ne!(client_token(&id), token, "the secret part differs every time");
        }
        assert_eq!(payin_of_client_token("not a token"), None);
        assert_eq!(payin_of_client_token("AAAA"), None);
    }
}
