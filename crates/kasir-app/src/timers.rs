//! Durable timers: an attempt's planned answer and its expiry, a refund's planned answer. Each is a row in
//! the job table, written in the transaction that makes the attempt or refund; due timers are run many
//! to a transaction, which takes them off the table, so they are gone when it commits and back if it
//! rolls back.

use std::time::Duration;

use kasir_domain::{FailureReason, Mode, Outcome, PaymentAttempt, Refund, RefundFailure, Timestamp};
use kasir_store::{Job, Scope, StoreError, Tx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkouts::{CheckoutTimer, CHECKOUT_TIMER};
use crate::outbox::{self, Handoff};
use crate::wallet::{calls, CallOp, Plan};
use crate::{attempts, checkouts, refunds, AppError, Ctx};

pub const ATTEMPT_TIMER: &str = "attempt_timer";
pub const REFUND_TIMER: &str = "refund_timer";

/// The job kinds that are timers (run inside one transaction) rather than deliveries or calls.
pub const TIMERS: &[&str] = &[ATTEMPT_TIMER, REFUND_TIMER, CHECKOUT_TIMER];

/// When a timer that could not be applied runs again, and a delivery or call that could not be prepared.
pub const PARKED_TIMER_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum TimerOutcome {
    Succeed,
    Fail { reason: FailureReason },
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptTimer {
    account_id: String,
    mode: Mode,
    attempt_id: String,
    #[serde(flatten)]
    outcome: TimerOutcome,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefundTimer {
    account_id: String,
    mode: Mode,
    refund_id: String,
    /// `None` for success, else why it fails.
    failure: Option<RefundFailure>,
}

/// A timer's payload: whose it is, and the change it makes when due.
trait Timer: DeserializeOwned {
    const WHAT: &'static str;
    fn scope(&self) -> Scope;
    fn settle(self, tx: &mut dyn Tx, now: Timestamp, handoff: Option<&mut Handoff>) -> Result<(), AppError>;
}

impl Timer for AttemptTimer {
    const WHAT: &'static str = "attempt";

    fn scope(&self) -> Scope {
        Scope { account_id: self.account_id.clone(), mode: self.mode }
    }

    fn settle(self, tx: &mut dyn Tx, now: Timestamp, handoff: Option<&mut Handoff>) -> Result<(), AppError> {
        let outcome = match self.outcome {
            TimerOutcome::Succeed => Outcome::Succeeded,
            TimerOutcome::Fail { reason } => Outcome::Failed(reason),
        };
        attempts::settle(tx, &self.scope(), &self.attempt_id, outcome, now, handoff).map(drop)
    }
}

impl Timer for CheckoutTimer {
    const WHAT: &'static str = "checkout";

    fn scope(&self) -> Scope {
        Scope { account_id: self.account_id.clone(), mode: self.mode }
    }

    fn settle(self, tx: &mut dyn Tx, now: Timestamp, handoff: Option<&mut Handoff>) -> Result<(), AppError> {
        checkouts::on_timer(tx, &self, now, handoff)
    }
}

impl Timer for RefundTimer {
    const WHAT: &'static str = "refund";

    fn scope(&self) -> Scope {
        Scope { account_id: self.account_id.clone(), mode: self.mode }
    }

    fn settle(self, tx: &mut dyn Tx, now: Timestamp, handoff: Option<&mut Handoff>) -> Result<(), AppError> {
        let outcome = self.failure.map_or(Ok(()), Err);
        refunds::settle(tx, &self.scope(), &self.refund_id, outcome, now, handoff).map(drop)
    }
}

fn attempt_timer(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt: &PaymentAttempt,
    outcome: Outcome,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let outcome = match outcome {
        Outcome::Succeeded => TimerOutcome::Succeed,
        Outcome::Failed(reason) => TimerOutcome::Fail { reason },
    };
    let payload = AttemptTimer {
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt_id: attempt.id.clone(),
        outcome,
    };
    tx.insert_job(ATTEMPT_TIMER, &serde_json::to_string(&payload)?, at, now)
}

/// Schedules a new attempt's future: what its mode's wallet plans for it, and its expiry.
pub fn schedule_attempt(tx: &mut dyn Tx, ctx: &Ctx, attempt: &PaymentAttempt) -> Result<(), StoreError> {
    let plan = ctx.wallets.of(ctx.scope.mode).map_or(Plan::Silent, |w| w.plan_push(attempt));
    match plan {
        Plan::Answer { at, outcome } => attempt_timer(tx, &ctx.scope, attempt, outcome, at, ctx.now)?,
        Plan::Silent => {}
        // The calls enforce the expiry (docs/decisions/0016-live-ovo.md): a timer could fail an
        // attempt whose push is approved a moment later.
        Plan::Call => return calls::schedule(tx, &ctx.scope, CallOp::Push, &attempt.id, None, ctx.now, ctx.now),
    }
    let expire = Outcome::Failed(FailureReason::Expired);
    attempt_timer(tx, &ctx.scope, attempt, expire, attempt.expires_at, ctx.now)
}

/// Schedules a new refund's answer, as its mode's wallet plans it.
pub fn schedule_refund(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    refund: &Refund,
    attempt: &PaymentAttempt,
) -> Result<(), StoreError> {
    let plan = ctx.wallets.of(ctx.scope.mode).map_or(Plan::Silent, |w| w.plan_refund(refund, attempt));
    match plan {
        Plan::Answer { at, outcome } => {
            let payload = RefundTimer {
                account_id: ctx.scope.account_id.clone(),
                mode: ctx.scope.mode,
                refund_id: refund.id.clone(),
                failure: outcome.err(),
            };
            tx.insert_job(REFUND_TIMER, &serde_json::to_string(&payload)?, at, ctx.now)
        }
        Plan::Silent => Ok(()),
        Plan::Call => calls::schedule(tx, &ctx.scope, CallOp::Refund, &attempt.id, Some(&refund.id), ctx.now, ctx.now),
    }
}

/// Runs up to `limit` due timers in the caller's transaction. Returns how many ran. With a `handoff`,
/// the deliveries they schedule are handed to the caller (see [`Handoff`]).
pub fn run_due(
    tx: &mut dyn Tx,
    now: Timestamp,
    limit: usize,
    mut handoff: Option<&mut Handoff>,
) -> Result<usize, StoreError> {
    let jobs = tx.take_due_jobs(TIMERS, now, limit)?;
    for job in &jobs {
        let before = tx.writes();
        let h = handoff.as_deref_mut();
        let ran = match job.kind.as_str() {
            REFUND_TIMER => run::<RefundTimer>(tx, job, now, h),
            CHECKOUT_TIMER => run::<CheckoutTimer>(tx, job, now, h),
            _ => run::<AttemptTimer>(tx, job, now, h),
        };
        match ran {
            Ok(()) => {}
            // A stored object that does not decode (a row edited by hand, or written by a newer
            // version), found before the timer changed anything: the timer is put back for later and
            // the others in this transaction go on. Failing them all would fail them again on every
            // pass, behind the same timer.
            Err(e @ StoreError::Corrupt(_)) if tx.writes() == before => {
                tracing::error!(
                    job = job.id, kind = %job.kind, error = %e,
                    "a timer cannot be applied; it is put back to run again in an hour"
                );
                tx.insert_job(&job.kind, &job.payload, now.plus(PARKED_TIMER_DELAY), now)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(jobs.len())
}

/// Runs one timer. An unreadable payload is dropped (logged), since no later try could read it either;
/// a store error keeps it for another try; a domain error (it names nothing settleable) drops it.
fn run<T: Timer>(
    tx: &mut dyn Tx,
    job: &Job,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    let t: T = match serde_json::from_str(&job.payload) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "unreadable {} timer; dropping it", T::WHAT);
            return Ok(());
        }
    };
    // The account its events will name, read before the timer changes anything: one that does not
    // decode stops the timer before its first write (and it is put back), not after.
    outbox::rules(tx, &t.scope(), handoff.as_deref_mut())?;
    match t.settle(tx, now, handoff) {
        Ok(()) => Ok(()),
        Err(AppError::Store(e)) => Err(e),
        Err(AppError::Domain(e)) => {
            tracing::error!(job = job.id, error = %e, "{} timer refers to nothing; dropping it", T::WHAT);
            Ok(())
        }
    }
}
