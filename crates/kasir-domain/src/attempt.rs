//! Payment attempts (`pat_…`): one push to the customer's wallet each, and what became of it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{Currency, CustomerDetails, PaymentMethodDetails, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    RequiresAction,
    Processing,
    Succeeded,
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::RequiresAction => "requires_action",
            AttemptStatus::Processing => "processing",
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, AttemptStatus::Succeeded | AttemptStatus::Failed)
    }
}

/// Why an attempt failed. `status_description` carries `"<reason>: <explanation>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The phone number has no OVO account (OVO code 14).
    NotRegistered,
    /// The customer declined in the OVO app (OVO code 17).
    Declined,
    /// The push could not be delivered to the phone (OVO code 26).
    PushNotDelivered,
    /// The wallet's balance does not cover the amount.
    InsufficientBalance,
    /// Nobody approved before the approval window closed.
    Expired,
    /// The merchant cancelled the payin.
    Cancelled,
    /// OVO refused the payment for another reason (codes 13, 40, 58): `status_description` names the code.
    Rejected,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::NotRegistered,
        FailureReason::Declined,
        FailureReason::PushNotDelivered,
        FailureReason::InsufficientBalance,
        FailureReason::Expired,
        FailureReason::Cancelled,
        FailureReason::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::NotRegistered => "not_registered",
            FailureReason::Declined => "declined",
            FailureReason::PushNotDelivered => "push_not_delivered",
            FailureReason::InsufficientBalance => "insufficient_balance",
            FailureReason::Expired => "expired",
            FailureReason::Cancelled => "cancelled",
            FailureReason::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<FailureReason> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The attempt's `status_description`.
    pub fn description(self) -> String {
        let why = match self {
            FailureReason::NotRegistered => "the phone number is not registered with OVO (OVO code 14)",
            FailureReason::Declined => "the customer declined the payment in the OVO app (OVO code 17)",
            FailureReason::PushNotDelivered => "the payment request could not be delivered to the phone (OVO code 26)",
            FailureReason::InsufficientBalance => "the OVO balance does not cover the amount",
            FailureReason::Expired => "the customer did not approve before the payment request expired",
            FailureReason::Cancelled => "the merchant cancelled the payin",
            FailureReason::Rejected => "OVO refused the payment",
        };
        format!("{}: {why}", self.as_str())
    }
}

impl PaymentAttempt {
    /// Why it failed, read back from `status_description`; `None` unless it failed.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        if self.status != AttemptStatus::Failed {
            return None;
        }
        self.status_description.split(':').next().and_then(FailureReason::parse)
    }
}

/// What the wallet says happened to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(FailureReason),
}

/// A payment attempt (`pat_…`): one push to the customer's wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentAttempt {
    pub amount: i64,
    pub charge_currency: Currency,
    pub created_at: Timestamp,
    pub customer: String,
    pub customer_details: Option<CustomerDetails>,
    pub expires_at: Timestamp,
    pub id: String,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub object: String,
    pub payin: String,
    pub payment_method_details: PaymentMethodDetails,
    pub reference_id: String,
    pub refunded: bool,
    pub status: AttemptStatus,
    pub status_description: String,
    /// What the wallet recorded of the push: for live OVO, its numbers from the moment the push is sent,
    /// and OVO's approval once it is approved. `null` for test-mode attempts.
    #[serde(default)]
    pub response: Option<AttemptResponse>,
}

/// A live attempt's record at its wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptResponse {
    pub ovo_idr: OvoResponse,
}

/// A push as OVO knows it: the numbers every later message about it repeats, and OVO's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OvoResponse {
    pub batch_no: u32,
    pub reference_number: u32,
    /// OVO's `approvalCode`; `""` until approved.
    pub approval_code: String,
    /// OVO's `traceNumber`; `""` until approved.
    pub trace_number: String,
    /// When Kasir learnt of the approval; `null` until then. A void is allowed that day (WIB) only.
    pub approved_at: Option<Timestamp>,
    /// When Kasir decided to reverse the push (it got no final answer in time); `null` if it never did.
    /// From then on only the reversal settles the attempt: an approval arriving later is undone by it.
    #[serde(default)]
    pub reversal_requested_at: Option<Timestamp>,
}

impl PaymentAttempt {
    /// Whether Kasir has decided to reverse this attempt's push.
    pub fn reversal_requested(&self) -> bool {
        self.response.as_ref().is_some_and(|r| r.ovo_idr.reversal_requested_at.is_some())
    }
}
