//! The seam between Kasir and a wallet provider: ask for a push, learn its outcome, reverse it, refund.
//!
//! A wallet is asked twice over. When an attempt (or a refund) is made, inside the transaction that makes
//! it, the wallet *plans* it: the plan is decided from the attempt alone, with no I/O, since that
//! transaction may run more than once. A wallet whose answers follow from rules (the sandbox) answers
//! there and then, and its answer becomes a durable timer; a wallet that must be asked over the network
//! plans a *call*, which a job makes later, outside any transaction ([`calls`]), and whose answer comes
//! back as a state change. Either way the payin's state machine is the domain's and is not the wallet's:
//! a wallet only reports outcomes. See `docs/decisions/0012-wallet-seam.md`.

pub mod calls;
mod live_ovo;
pub mod ovo;
mod ovo_http;
mod sandbox;

use std::sync::Arc;

use futures::future::BoxFuture;
use kasir_domain::{AttemptResponse, Mode, Outcome, PaymentAttempt, Refund, RefundFailure, Timestamp};
use kasir_store::{StoreError, Tx};
use serde::{Deserialize, Serialize};

pub use live_ovo::{LiveOvo, OvoConfig};
pub use sandbox::SandboxWallet;

/// A refund's outcome: done, or why not.
pub type RefundOutcome = Result<(), RefundFailure>;

/// What a wallet makes of a new attempt or refund, decided inside the transaction that makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan<O> {
    /// The answer is known now: `outcome`, arriving at `at` (a durable timer).
    Answer { at: Timestamp, outcome: O },
    /// No answer will come; the approval window's expiry settles the attempt.
    Silent,
    /// The wallet must be asked: a call job, due at once, runs outside any transaction. The calls, not
    /// a timer, settle the attempt: its expiry is the wallet's to enforce (a push may be approved late,
    /// and only the wallet can say so, or undo it).
    Call,
}

/// The requests a job makes of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOp {
    /// Push the payment request to the customer's phone.
    Push,
    /// Ask what became of the push.
    Status,
    /// Undo a push that got no final answer.
    Reverse,
    /// Give the money of a paid attempt back.
    Refund,
    /// Ask what became of a refund that got no final answer.
    RefundStatus,
}

impl CallOp {
    /// Its name in logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            CallOp::Push => "push",
            CallOp::Status => "status",
            CallOp::Reverse => "reverse",
            CallOp::Refund => "refund",
            CallOp::RefundStatus => "refund_status",
        }
    }
}

/// One request to a wallet, with everything it needs: the wallet touches no database.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: CallOp,
    pub account_id: String,
    pub mode: Mode,
    pub attempt: PaymentAttempt,
    /// For [`CallOp::Refund`].
    pub refund: Option<Refund>,
    /// How many times this request has been handed out, this one included: more than one means an
    /// earlier try's answer was lost (a crash or a timeout mid-call).
    pub tries: u32,
    /// How many times in a row this request was asked for before (0 the first time): a wallet backs
    /// off with it.
    pub round: u32,
    pub now: Timestamp,
}

/// What a wallet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The attempt has its final outcome, and what the wallet recorded of it.
    Settled(Outcome, Option<AttemptResponse>),
    /// The refund has its final outcome.
    Refunded(RefundOutcome),
    /// The wallet cannot give the money back itself: the refund waits for a manual transfer, for the
    /// reason given.
    Manual(String),
    /// No final answer yet: make `op` at `at` (a status check, a reversal's retry).
    Again { op: CallOp, at: Timestamp },
    /// Nothing more to do (a reversal confirmed).
    Done,
}

/// A wallet provider.
pub trait Wallet: Send + Sync {
    /// Plans a new attempt. No I/O: the transaction that calls it may run twice.
    fn plan_push(&self, attempt: &PaymentAttempt) -> Plan<Outcome>;
    /// Plans a new refund of `attempt`. No I/O.
    fn plan_refund(&self, refund: &Refund, attempt: &PaymentAttempt) -> Plan<RefundOutcome>;
    /// Makes one request, outside any transaction.
    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer>;
    /// Durable bookkeeping before `call` is made, in the transaction that claims it (no I/O but `tx`):
    /// OVO takes the push's reference number here and records it on the attempt, so that a push is never
    /// sent without a record of it, and no number is used twice.
    /// `false` drops the call (the attempt ended meanwhile).
    fn before_call(&self, _tx: &mut dyn Tx, _call: &mut Call) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Whether a push may be out at the wallet, unanswered, while its attempt waits: then a cancel asks
    /// the wallet first ([`calls::before_cancel`]). The sandbox's answers are all planned, so it never is.
    fn pushes_out_of_band(&self) -> bool {
        false
    }
    /// Registers the wallet's own metrics.
    fn register(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// The wallet of each mode. Test keys always have the sandbox; live keys have a wallet only when one is
/// configured, and without one a live attempt gets no answer and expires.
#[derive(Clone)]
pub struct Wallets {
    test: Arc<dyn Wallet>,
    live: Option<Arc<dyn Wallet>>,
}

impl Wallets {
    pub fn new(test: Arc<dyn Wallet>, live: Option<Arc<dyn Wallet>>) -> Wallets {
        Wallets { test, live }
    }

    pub fn of(&self, mode: Mode) -> Option<&dyn Wallet> {
        match mode {
            Mode::Test => Some(self.test.as_ref()),
            Mode::Live => self.live.as_deref(),
        }
    }
}
