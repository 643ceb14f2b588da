//! The OVO sandbox: what happens to a test-mode attempt, decided from the attempt alone.
//!
//! The seed guide's rules hold for every number outside the catalogue below: an attempt succeeds
//! `delay` after its creation, and an attempt on a payin of IDR 100,000.00 (`10000000`) fails `delay`
//! after its creation. The catalogue adds the failures merchants meet in production, on numbers of
//! their own; an attempt of amount `10000000` fails by the seed's rule whatever its number.

use std::time::Duration;

use crate::{FailureReason, PaymentAttempt, Timestamp};

/// The amount whose attempts fail in the sandbox, as the seed guide says.
pub const FAILING_AMOUNT: i64 = 10_000_000;

/// What the simulated wallet will do, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The customer approves at this time.
    SucceedAt(Timestamp),
    /// The attempt fails at this time, for this reason.
    FailAt(Timestamp, FailureReason),
    /// Nobody answers: the attempt expires when its approval window closes.
    NoAnswer,
}

/// One row of the catalogue of test phone numbers.
#[derive(Debug, Clone, Copy)]
pub struct MagicNumber {
    pub number: &'static str,
    pub behaviour: &'static str,
    outcome: Magic,
}

#[derive(Debug, Clone, Copy)]
enum Magic {
    FailNow(FailureReason),
    FailAfterDelay(FailureReason),
    NoAnswer,
    SucceedAfterDelay,
    SucceedJustBeforeExpiry,
}

/// The catalogue, as documented in `docs/sandbox.md`.
pub const CATALOGUE: &[MagicNumber] = &[
    MagicNumber {
        number: "81100000014",
        behaviour: "fails at once: the number is not registered with OVO (OVO code 14)",
        outcome: Magic::FailNow(FailureReason::NotRegistered),
    },
    MagicNumber {
        number: "81100000026",
        behaviour: "fails at once: the push could not be delivered to the phone (OVO code 26)",
        outcome: Magic::FailNow(FailureReason::PushNotDelivered),
    },
    MagicNumber {
        number: "81100000017",
        behaviour: "fails after the sandbox delay: the customer declined in the OVO app (OVO code 17)",
        outcome: Magic::FailAfterDelay(FailureReason::Declined),
    },
    MagicNumber {
        number: "81100000051",
        behaviour: "fails after the sandbox delay: insufficient OVO balance",
        outcome: Magic::FailAfterDelay(FailureReason::InsufficientBalance),
    },
    MagicNumber {
        number: "81100000408",
        behaviour: "never answers: the attempt fails with reason expired when the approval window closes",
        outcome: Magic::NoAnswer,
    },
    MagicNumber {
        number: "81100000333",
        behaviour: "pays after the sandbox delay, but refunds of the payin fail: the wallet was closed",
        outcome: Magic::SucceedAfterDelay,
    },
    MagicNumber {
        number: "81100000202",
        behaviour: "succeeds late: 5 seconds before the approval window closes",
        outcome: Magic::SucceedJustBeforeExpiry,
    },
];

impl MagicNumber {
    /// How the attempt's (or the refund's) `status_description` starts, as `docs/sandbox.md` lists it.
    pub fn status_prefix(&self) -> String {
        match self.outcome {
            Magic::FailNow(r) | Magic::FailAfterDelay(r) => format!("`{}:`", r.as_str()),
            Magic::NoAnswer => format!("`{}:`", FailureReason::Expired.as_str()),
            Magic::SucceedJustBeforeExpiry => "(succeeded)".into(),
            Magic::SucceedAfterDelay if self.number == REFUND_FAILS_NUMBER => {
                format!("refund: `{}:`", crate::RefundFailure::WalletClosed.as_str())
            }
            Magic::SucceedAfterDelay => "(succeeded)".into(),
        }
    }
}

/// Refunds of payins paid from this number fail (the wallet was closed after paying).
pub const REFUND_FAILS_NUMBER: &str = "81100000333";

/// The sandbox's answer to a test-mode refund of a payin paid with `attempt`, due `delay` after the refund.
pub fn refund_outcome(attempt: &PaymentAttempt) -> Result<(), crate::RefundFailure> {
    if number(attempt) == REFUND_FAILS_NUMBER {
        Err(crate::RefundFailure::WalletClosed)
    } else {
        Ok(())
    }
}

/// The wallet's phone number the attempt pushed to (`""` for a method without one).
fn number(attempt: &PaymentAttempt) -> &str {
    attempt.payment_method_details.phone().map_or("", |p| p.number.as_str())
}

/// How long before the window closes a late approval arrives.
pub const LATE_APPROVAL_MARGIN: Duration = Duration::from_secs(5);

/// The sandbox's plan for a new test-mode attempt.
pub fn plan(attempt: &PaymentAttempt, delay: Duration) -> Plan {
    let after_delay = attempt.created_at.plus(delay);
    if attempt.amount == FAILING_AMOUNT {
        return Plan::FailAt(after_delay, FailureReason::Declined);
    }
    match CATALOGUE.iter().find(|m| m.number == number(attempt)).map(|m| m.outcome) {
        None | Some(Magic::SucceedAfterDelay) => Plan::SucceedAt(after_delay),
        Some(Magic::FailNow(r)) => Plan::FailAt(attempt.created_at, r),
        Some(Magic::FailAfterDelay(r)) => Plan::FailAt(after_delay, r),
        Some(Magic::NoAnswer) => Plan::NoAnswer,
        Some(Magic::SucceedJustBeforeExpiry) => {
            Plan::SucceedAt(attempt.expires_at.minus(LATE_APPROVAL_MARGIN).max(attempt.created_at))
        }
    }
}
