//! Refunds: money going back to the customer's wallet. OVO refunds whole payins only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::DomainError;
use crate::method::RefundPolicy;
use crate::{codes, Currency, Event, EventType, IdKind, Payin, PayinStatus, PaymentAttempt, Timestamp};

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
    pub const ALL: [RefundFailure; 2] = [RefundFailure::Rejected, RefundFailure::WalletClosed];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundFailure::WalletClosed => "wallet_closed",
            RefundFailure::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<RefundFailure> {
        RefundFailure::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn description(self) -> String {
        let why = match self {
            RefundFailure::WalletClosed => "the customer's OVO account can no longer receive funds",
            RefundFailure::Rejected => "OVO rejected the refund",
        };
        format!("{}: {why}", self.as_str())
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
            return Err(DomainError::conflict(
                codes::REFUND_NOT_SUCCEEDED,
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
                return Err(DomainError::rejected(
                    codes::REFUND_CURRENCY_MISMATCH,
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
            return Err(DomainError::conflict(codes::REFUND_ALREADY_REFUNDED, message, "payin"));
        }
        let amount = req.amount.unwrap_or(refundable);
        if amount <= 0 {
            return Err(DomainError::rejected(
                codes::REFUND_AMOUNT_NOT_POSITIVE,
                "amount must be greater than 0",
                "amount",
            ));
        }
        if amount > refundable {
            return Err(DomainError::rejected(
                codes::REFUND_EXCEEDS_REFUNDABLE,
                format!("amount {amount} exceeds what is refundable ({refundable})"),
                "amount",
            ));
        }
        let method = attempt.payment_method_details.kind();
        if method.method().refunds == RefundPolicy::WholeOnly && amount != payin.amount {
            return Err(DomainError::rejected(
                codes::REFUND_PARTIAL_NOT_SUPPORTED,
                format!("{} refunds whole payins only: amount must be {} or left out", method.as_str(), payin.amount),
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

    /// Where this refund's events go: its own `webhook_url`, else its payin's.
    pub fn webhook_target<'a>(&'a self, payin: &'a Payin) -> &'a str {
        if self.webhook_url.is_empty() {
            &payin.webhook_url
        } else {
            &self.webhook_url
        }
    }

    /// Applies the wallet's answer. `None` when the refund already has one.
    pub fn settle(
        &mut self,
        attempt: &mut PaymentAttempt,
        outcome: Result<(), RefundFailure>,
        now: Timestamp,
    ) -> Option<Vec<Event>> {
        self.settle_described(attempt, outcome, None, now)
    }

    /// [`Refund::settle`], with `description` as its `status_description` (in its events too) instead
    /// of the outcome's own.
    pub fn settle_described(
        &mut self,
        attempt: &mut PaymentAttempt,
        outcome: Result<(), RefundFailure>,
        description: Option<String>,
        now: Timestamp,
    ) -> Option<Vec<Event>> {
        if self.status != RefundStatus::Pending {
            return None;
        }
        let kind = match outcome {
            Ok(()) => {
                self.status = RefundStatus::Succeeded;
                attempt.refunded = true;
                EventType::RefundSucceeded
            }
            Err(why) => {
                self.status = RefundStatus::Failed;
                self.status_description = why.description();
                EventType::RefundFailed
            }
        };
        if let Some(d) = description {
            self.status_description = d;
        }
        Some(vec![self.event(kind, now)])
    }
}
