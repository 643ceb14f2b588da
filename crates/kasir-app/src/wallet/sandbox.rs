//! The OVO sandbox as a wallet: its answers follow from the attempt (the seed guide's rules and the
//! catalogue of test numbers in `kasir_domain::sandbox`), so it answers when it plans, and the answers
//! become durable timers. Asked by a call anyway, it answers by the same rules.

use std::time::Duration;

use futures::future::{self, BoxFuture};
use kasir_domain::sandbox::{self, Plan as Decided};
use kasir_domain::{Outcome, PaymentAttempt, Refund};

use super::{Answer, Call, CallOp, Plan, RefundOutcome, Wallet};

/// The sandbox, answering `delay` after each attempt or refund is made (the guide's 70 seconds).
#[derive(Debug, Clone, Copy)]
pub struct SandboxWallet {
    delay: Duration,
}

impl SandboxWallet {
    pub fn new(delay: Duration) -> SandboxWallet {
        SandboxWallet { delay }
    }
}

impl Wallet for SandboxWallet {
    fn plan_push(&self, attempt: &PaymentAttempt) -> Plan<Outcome> {
        match sandbox::plan(attempt, self.delay) {
            Decided::SucceedAt(at) => Plan::Answer { at, outcome: Outcome::Succeeded },
            Decided::FailAt(at, reason) => Plan::Answer { at, outcome: Outcome::Failed(reason) },
            Decided::NoAnswer => Plan::Silent,
        }
    }

    fn plan_refund(&self, refund: &Refund, attempt: &PaymentAttempt) -> Plan<RefundOutcome> {
        Plan::Answer { at: refund.created_at.plus(self.delay), outcome: sandbox::refund_outcome(attempt) }
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        let answer = match (call.op, &call.refund) {
            (CallOp::Refund | CallOp::RefundStatus, Some(refund)) => match self.plan_refund(refund, &call.attempt) {
                Plan::Answer { at, outcome } if at <= call.now => Answer::Refunded(outcome),
                Plan::Answer { at, .. } => Answer::Again { op: CallOp::Refund, at },
                Plan::Silent | Plan::Call => Answer::Done,
            },
            (CallOp::Refund | CallOp::RefundStatus, None) | (CallOp::Reverse, _) => Answer::Done,
            (CallOp::Push | CallOp::Status, _) => match self.plan_push(&call.attempt) {
                Plan::Answer { at, outcome } if at <= call.now => Answer::Settled(outcome, None),
                Plan::Answer { at, .. } => Answer::Again { op: CallOp::Status, at },
                Plan::Silent | Plan::Call => Answer::Again { op: CallOp::Status, at: call.attempt.expires_at },
            },
        };
        Box::pin(future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;
    use kasir_domain::{Mode, PaymentMethodDetails, Phone, Timestamp};

    use super::*;

    fn attempt(number: &str, amount: i64) -> PaymentAttempt {
        let t0 = Timestamp::from_micros(1_000_000_000);
        serde_json::from_value(serde_json::json!({
            "amount": amount, "charge_currency": "IDR", "created_at": t0, "customer": "",
            "customer_details": null, "expires_at": t0.plus(Duration::from_secs(300)), "id": "pat_x",
            "metadata": null, "object": "payment_attempt", "payin": "pay_x",
            "payment_method_details": PaymentMethodDetails::ovo(Phone::parse("62", number, Mode::Test).unwrap()),
            "reference_id": "", "refunded": false, "status": "requires_action", "status_description": "", "response": null
        }))
        .unwrap()
    }

    #[test]
    fn its_calls_answer_as_its_plans_do() {
        let w = SandboxWallet::new(Duration::from_secs(70));
        for (number, amount) in [("81234567890", 5_000_000), ("81234567890", 10_000_000), ("81100000014", 5_000_000)] {
            let a = attempt(number, amount);
            let Plan::Answer { at, outcome } = w.plan_push(&a) else { panic!("the sandbox answers {number}") };
            let ask = |now| Call {
                op: CallOp::Status,
                account_id: "acc_x".into(),
                mode: Mode::Test,
                attempt: a.clone(),
                refund: None,
                tries: 1,
                round: 0,
                now,
            };
            assert_eq!(w.call(&ask(at)).now_or_never(), Some(Answer::Settled(outcome, None)), "{number} {amount}");
            if at > a.created_at {
                let early = ask(a.created_at);
                assert_eq!(w.call(&early).now_or_never(), Some(Answer::Again { op: CallOp::Status, at }));
            }
        }
        assert_eq!(w.plan_push(&attempt("81100000408", 5_000_000)), Plan::Silent);
    }
}
