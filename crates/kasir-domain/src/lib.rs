//! Kasir's domain: money, ids, phone numbers, payment methods, customers, the payin and attempt state
//! machine, checkouts, refunds, events and the webhook retry schedule.
//!
//! Pure types and rules, no I/O and no async. Request JSON becomes these types at the edge; past the
//! edge nothing is re-checked and nothing invalid exists.

pub mod attempt;
pub mod checkout;
pub mod codes;
pub mod customer;
pub mod delivery;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod id;
pub mod method;
pub mod money;
pub mod payin;
pub mod phone;
pub mod refund;
pub mod sandbox;
pub mod time;

pub use attempt::{AttemptResponse, AttemptStatus, FailureReason, Outcome, OvoResponse, PaymentAttempt};
pub use checkout::{Checkout, CheckoutStatus, NewCheckout, PaymentStatus};
pub use customer::{ContactPhone, Customer, CustomerDetails};
pub use delivery::{Delivery, TryResult};
pub use endpoint::{EndpointStatus, WebhookEndpoint};
pub use error::{DomainError, FieldError};
pub use event::{new_webhook_secret, Event, EventSwitches, EventType};
pub use id::IdKind;
pub use method::{AmountLimits, MethodLimits, PaymentMethodDetails, PaymentMethodType, RefundPolicy};
pub use money::{Amount, AmountError, Currency};
pub use payin::{
    payin_of_client_token, Confirmation, Confirmed, NewPayin, Payin, PayinFields, PayinRules, PayinStatus,
};
pub use phone::{Phone, PhoneError};
pub use refund::{Refund, RefundFailure, RefundRequest, RefundStatus};
pub use time::{Civil, Clock, ManualClock, SystemClock, Timestamp, WIB_OFFSET_SECS};

use serde::{Deserialize, Serialize};

/// Test keys see test objects and move no money; live keys see live objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "test" => Some(Mode::Test),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }
}
