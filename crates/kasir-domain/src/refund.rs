//! Refunds: money going back to the customer's wallet. OVO refunds whole payins only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{DomainError, FieldError};
use crate::payin::{PaymentAttempt, PaymentMethodType};
use crate::{Currency, Event, EventType, IdKind, Payin, PayinStatus, Timestamp};

/// Refund error codes of the wire contract.
pub mod codes {
    pub const INVALID_PAYIN: u32 = 30000;
    pub const AMOUNT_NOT_POSITIVE: u32 = 30002;
    pub const CURRENCY_MISMATCH: u32 = 30004;
    pub const INVALID_WEBHOOK_URL: u32 = 30005;
    pub const NO_PAYIN: u32 = 30007;
    pub const NOT_SUCCEEDED: u32 = 30009;
    pub const ALREADY_REFUNDED: u32 = 30010;
    pub const EXCEEDS_REFUNDABLE: u32 = 30012;
    pub const INVALID_REASON: u32 = 30015;
    pub const PARTIAL_NOT_SUPPORTED: u32 = 30021;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

/// The refund object (`rfd_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refund {
    pub amount: i64,
    pub created_at: Timestamp,
    pub currency: Currency,
    pub customer_receives: Money,
    pub id: String,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub object: String,
    pub payin: String,
    pub payment_attempt: String,
    pub reason: String,
    pub reference_id: String,
    pub status: RefundStatus,
    pub status_description: String,
    pub webhook_url: String,
}

/// A validated refund request, before the payin it names is loaded.
#[derive(Debug, Clone, Default)]
pub struct RefundRequest {
    pub amount: Option<i64>,
    pub currency: Option<Currency>,
    pub reason: String,
    pub reference_id: String,
    pub webhook_url: String,
    pub metadata: Option<Map<String, Value>>,
}

/// Why a refund failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundFailure {
    /// The customer's wallet can no longer receive money.
    WalletClosed,
    /// The wallet provider refused the refund.
    Rejected,
}

impl RefundFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundFailure::WalletClosed => "wallet_closed",
            RefundFailure::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<RefundFailure> {
        [RefundFailure::WalletClosed, RefundFailure::Rejected].into_iter().find(|r| r.as_str() == s)
    }

    pub fn description(self) -> String {
        let why = match self {
            RefundFailure::WalletClosed => "the customer's OVO account can no longer receive funds",
            RefundFailure::Rejected => "OVO rejected the refund",
        };
        format!("{}: {why}", self.as_str())
    }
}

fn refused(status: u16, code: u32, message: String, remarks: &str) -> DomainError {
    let f = FieldError::new(code, message, remarks);
    if status == 409 {
        DomainError::Conflict(f)
    } else {
        DomainError::Invalid(vec![f])
    }
}

impl Refund {
    /// Checks a refund of `payin` against the rules and, if they allow it, makes it `pending`.
    /// `existing` holds the payin's earlier refunds.
    pub fn request(
        payin: &Payin,
        attempt: &PaymentAttempt,
        existing: &[Refund],
        req: RefundRequest,
        now: Timestamp,
    ) -> Result<(Refund, Vec<Event>), DomainError> {
        if payin.status != PayinStatus::Succeeded {
            return Err(refused(
                409,
                codes::NOT_SUCCEEDED,
                format!(
                    "payin {} cannot be refunded: its status is {}, not succeeded",
                    payin.id,
                    payin.status.as_str()
                ),
                "payin",
            ));
        }
        if let Some(c) = req.currency {
            if c != payin.invoice_currency {
                return Err(refused(
                    400,
                    codes::CURRENCY_MISMATCH,
                    format!("currency must be the payin's ({})", payin.invoice_currency),
                    "currency",
                ));
            }
        }
        let taken: i64 = existing.iter().filter(|r| r.status != RefundStatus::Failed).map(|r| r.amount).sum();
        let refundable = payin.amount_paid - taken;
        if refundable <= 0 {
            let pending = existing.iter().find(|r| r.status == RefundStatus::Pending);
            let message = match pending {
                Some(r) => format!("payin {} is already being refunded in full by {}", payin.id, r.id),
                None => format!("payin {} is already fully refunded", payin.id),
            };
            return Err(refused(409, codes::ALREADY_REFUNDED, message, "payin"));
        }
        let amount = req.amount.unwrap_or(refundable);
        if amount <= 0 {
            return Err(refused(400, codes::AMOUNT_NOT_POSITIVE, "amount must be greater than 0".into(), "amount"));
        }
        if amount > refundable {
            return Err(refused(
                400,
                codes::EXCEEDS_REFUNDABLE,
                format!("amount {amount} exceeds what is refundable ({refundable})"),
                "amount",
            ));
        }
        let method = payin.payment_method_details.as_ref().map(|m| m.kind);
        if method == Some(PaymentMethodType::OvoIdr) && amount != payin.amount {
            return Err(refused(
                400,
                codes::PARTIAL_NOT_SUPPORTED,
                format!("ovo_idr refunds whole payins only: amount must be {} or left out", payin.amount),
                "amount",
            ));
        }
        let refund = Refund {
            amount,
            created_at: now,
            currency: payin.invoice_currency,
            customer_receives: Money { amount, currency: payin.invoice_currency },
            id: IdKind::Refund.generate(),
            metadata: req.metadata,
            object: "refund".into(),
            payin: payin.id.clone(),
            payment_attempt: attempt.id.clone(),
            reason: req.reason,
            reference_id: req.reference_id,
            status: RefundStatus::Pending,
            status_description: String::new(),
            webhook_url: req.webhook_url,
        };
        let event = refund.event(EventType::RefundPending, now);
        Ok((refund, vec![event]))
    }

    pub fn event(&self, kind: EventType, now: Timestamp) -> Event {
        Event::new(kind, self, now)
    }

    /// Applies the wallet's answer. `None` when the refund already has one.
    pub fn settle(
        &mut self,
        attempt: &mut PaymentAttempt,
        outcome: Result<(), RefundFailure>,
        now: Timestamp,
    ) -> Option<Vec<Event>> {
        if self.status != RefundStatus::Pending {
            return None;
        }
        match outcome {
            Ok(()) => {
                self.status = RefundStatus::Succeeded;
                attempt.refunded = true;
                Some(vec![self.event(EventType::RefundSucceeded, now)])
            }
            Err(why) => {
                self.status = RefundStatus::Failed;
                self.status_description = why.description();
                Some(vec![self.event(EventType::RefundFailed, now)])
            }
        }
    }
}
