//! Wallet calls as durable jobs: a plan that asks for a call schedules one; a worker claims it (with a
//! lease), makes the request outside any transaction, and hands the answer back to [`apply`], which
//! makes it a state change. A worker that dies mid-call loses its lease, and the call is handed out
//! again with its `tries` counted, so the wallet knows an earlier answer may have been lost.

use std::time::Duration;

use kasir_domain::{AttemptStatus, Mode, Outcome, Timestamp};
use kasir_store::{Job, Scope, StoreError, Tx};
use serde::{Deserialize, Serialize};

use super::{Answer, Call, CallOp, Wallets};
use crate::{attempts, refunds, AppError};

/// The job kind of test-mode calls, and of live ones: a process claims only the calls of the modes it
/// has a wallet for, so one without a live wallet (on a shared PostgreSQL) never holds up live calls.
pub const WALLET_CALL: &str = "wallet_call";
pub const LIVE_WALLET_CALL: &str = "wallet_call_live";

fn kind(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => WALLET_CALL,
        Mode::Live => LIVE_WALLET_CALL,
    }
}

/// The call job kinds a process with `wallets` takes.
pub fn kinds(wallets: &Wallets) -> Vec<&'static str> {
    [Mode::Test, Mode::Live].into_iter().filter(|m| wallets.of(*m).is_some()).map(kind).collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct CallJob {
    account_id: String,
    mode: Mode,
    attempt_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_id: Option<String>,
    op: CallOp,
    /// How many times in a row `op` was asked for before this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Schedules `op` for an attempt (and a refund of it) at `at`.
pub fn schedule(
    tx: &mut dyn Tx,
    scope: &Scope,
    op: CallOp,
    attempt_id: &str,
    refund_id: Option<&str>,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    schedule_round(tx, scope, op, attempt_id, refund_id, 0, at, now)
}

#[allow(clippy::too_many_arguments)]
fn schedule_round(
    tx: &mut dyn Tx,
    scope: &Scope,
    op: CallOp,
    attempt_id: &str,
    refund_id: Option<&str>,
    round: u32,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let job = CallJob {
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt_id: attempt_id.into(),
        refund_id: refund_id.map(str::to_string),
        op,
        round,
    };
    tx.insert_job(kind(scope.mode), &serde_json::to_string(&job)?, at, now)
}

/// A call a worker is to make, and the job it came from.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub job_id: i64,
    pub scope: Scope,
    pub call: Call,
}

/// Leases up to `limit` due calls for `lease`, each with the attempt (and refund) as they are now, and
/// each prepared by its wallet ([`super::Wallet::before_call`]) in this transaction. A call for a mode
/// with no wallet is left for a process that has one.
pub fn claim(
    tx: &mut dyn Tx,
    wallets: &Wallets,
    now: Timestamp,
    limit: usize,
    lease: Duration,
) -> Result<Vec<PendingCall>, StoreError> {
    let jobs = tx.claim_jobs(&kinds(wallets), now, limit, lease)?;
    let mut calls = Vec::with_capacity(jobs.len());
    for job in jobs {
        match prepare(tx, &job, now) {
            Ok(Some(mut c)) => {
                let Some(wallet) = wallets.of(c.scope.mode) else {
                    tracing::error!(
                        job = job.id,
                        "a wallet call for a mode with no wallet configured; it waits for one"
                    );
                    tx.park_job(job.id, now.plus(Duration::from_secs(60)))?;
                    continue;
                };
                if wallet.before_call(tx, &mut c.call)? {
                    calls.push(c);
                } else {
                    tx.delete_job(job.id)?;
                }
            }
            Ok(None) => tx.delete_job(job.id)?,
            Err(e @ StoreError::Corrupt(_)) => {
                tracing::error!(job = job.id, error = %e, "a wallet call cannot be prepared; it is put back for an hour");
                tx.park_job(job.id, now.plus(crate::timers::PARKED_TIMER_DELAY))?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(calls)
}

/// The call a job asks for; `None` (logged) when it names nothing, or nothing that could be read.
fn prepare(tx: &mut dyn Tx, job: &Job, now: Timestamp) -> Result<Option<PendingCall>, StoreError> {
    let Ok(j) = serde_json::from_str::<CallJob>(&job.payload) else {
        tracing::error!(job = job.id, "unreadable wallet call; dropping it");
        return Ok(None);
    };
    let scope = Scope { account_id: j.account_id, mode: j.mode };
    let Some(attempt) = tx.attempt(&scope, &j.attempt_id)? else {
        tracing::error!(job = job.id, attempt = j.attempt_id, "wallet call for a missing attempt; dropping it");
        return Ok(None);
    };
    let refund = match &j.refund_id {
        Some(id) => match tx.refund(&scope, id)? {
            Some(r) => Some(r),
            None => {
                tracing::error!(job = job.id, refund = id, "wallet call for a missing refund; dropping it");
                return Ok(None);
            }
        },
        None => None,
    };
    if j.op == CallOp::Reverse && attempt.status == AttemptStatus::Succeeded {
        tracing::error!(job = job.id, attempt = attempt.id, "a reversal for a paid attempt; it is not sent");
        return Ok(None);
    }
    if j.op == CallOp::Push && attempt.status.is_final() && attempt.response.is_none() {
        // Cancelled (or otherwise ended) before its push went out: there is nothing to push. (One with
        // its number on the attempt may have gone out: it is handed to the wallet, which asks its status.)
        tracing::info!(job = job.id, attempt = attempt.id, "the attempt ended before its push was sent; no push");
        return Ok(None);
    }
    let call = Call {
        op: j.op,
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt,
        refund,
        tries: job.tries,
        round: j.round,
        now,
    };
    Ok(Some(PendingCall { job_id: job.id, scope, call }))
}

/// Applies a wallet's answer to the call it answers, in one transaction: the outcome settles the
/// attempt or refund (if it has none yet), a request to ask again schedules that, and the job is done.
pub fn apply(tx: &mut dyn Tx, pending: &PendingCall, answer: &Answer, now: Timestamp) -> Result<(), AppError> {
    let (scope, call) = (&pending.scope, &pending.call);
    match answer {
        Answer::Settled(outcome, response) => settle(tx, scope, &call.attempt.id, *outcome, response.clone(), now)?,
        Answer::Refunded(outcome) => {
            if let Some(r) = &call.refund {
                refunds::settle(tx, scope, &r.id, *outcome, now, None)?;
            }
        }
        Answer::Manual(why) => {
            if let Some(r) = &call.refund {
                refunds::await_transfer(tx, scope, &r.id, why)?;
            }
        }
        Answer::Again { op, at } => {
            if *op == CallOp::Reverse && !request_reversal(tx, scope, &call.attempt.id, now)? {
                tracing::error!(attempt = call.attempt.id, "a reversal was asked for a paid attempt; none is sent");
            } else {
                let refund_id = call.refund.as_ref().map(|r| r.id.as_str());
                let round = if *op == call.op { call.round.saturating_add(1) } else { 0 };
                schedule_round(tx, scope, *op, &call.attempt.id, refund_id, round, *at, now)?;
            }
        }
        Answer::Done => {}
    }
    tx.delete_job(pending.job_id)?;
    Ok(())
}

/// A wallet's outcome for an attempt. Once Kasir has decided to reverse the push, only the reversal
/// settles it: an approval that arrives later is not recorded (the reversal undoes it). An approval for
/// an attempt that already ended (cancelled, or failed by an earlier answer) is reversed, so that the
/// customer does not pay for a payment Kasir reports as failed.
fn settle(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt_id: &str,
    outcome: Outcome,
    response: Option<kasir_domain::AttemptResponse>,
    now: Timestamp,
) -> Result<(), AppError> {
    let (_, attempt) = attempts::lock(tx, scope, attempt_id)?;
    if outcome == Outcome::Succeeded && attempt.reversal_requested() && !attempt.status.is_final() {
        tracing::warn!(
            attempt = attempt_id,
            "an approval after the push's reversal was decided; the reversal settles it"
        );
        return Ok(());
    }
    let settled = attempts::settle_with(tx, scope, attempt_id, outcome, response, now, None)?;
    if settled.is_none() && outcome == Outcome::Succeeded && attempt.status != AttemptStatus::Succeeded {
        tracing::warn!(attempt = attempt_id, "a push was approved after its attempt ended; reversing it");
        schedule(tx, scope, CallOp::Reverse, attempt_id, None, now, now)?;
    }
    Ok(())
}

/// Records that the attempt's push is to be reversed, before any reversal is sent; `false` (nothing
/// recorded) for a paid attempt, which is never reversed.
fn request_reversal(tx: &mut dyn Tx, scope: &Scope, attempt_id: &str, now: Timestamp) -> Result<bool, AppError> {
    let (_, mut attempt) = attempts::lock(tx, scope, attempt_id)?;
    if attempt.status == AttemptStatus::Succeeded {
        return Ok(false);
    }
    if let Some(r) = attempt.response.as_mut().filter(|r| r.ovo_idr.reversal_requested_at.is_none()) {
        r.ovo_idr.reversal_requested_at = Some(now);
        tx.update_attempt(&attempt)?;
    }
    Ok(true)
}

/// Before a payin is cancelled (or its checkout expired) while its push may be waiting on the customer:
/// asks the wallet what became of the push, outside any transaction. Approved: the payin is settled as
/// paid, and the cancel that follows answers that it is no longer active. Otherwise the cancel goes on,
/// and its transaction schedules the push's reversal with it ([`crate::payins::cancel_at`]): from that
/// commit the attempt is cancelled, and an approval that still arrives is reversed.
pub async fn before_cancel(app: &crate::App, scope: &Scope, payin_id: &str) -> Result<(), AppError> {
    let Some(wallet) = app.wallets.of(scope.mode).filter(|w| w.pushes_out_of_band()) else { return Ok(()) };
    let (s, id) = (scope.clone(), payin_id.to_string());
    let attempt = app
        .store
        .read(move |tx| -> Result<_, StoreError> {
            let Some(payin) = tx.payin(&s, &id)? else { return Ok(None) };
            match payin.latest_payment_attempt.as_str() {
                "" => Ok(None),
                pat => tx.attempt(&s, pat),
            }
        })
        .await?;
    let Some(attempt) = attempt.filter(|a| !a.status.is_final() && a.response.is_some()) else { return Ok(()) };
    let call = Call {
        op: CallOp::Status,
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt,
        refund: None,
        tries: 1,
        round: 0,
        now: app.clock.now(),
    };
    let status = wallet.call(&call).await;
    if let Answer::Settled(outcome, response) = status {
        let (s, pat, now) = (scope.clone(), call.attempt.id.clone(), app.clock.now());
        app.store.write(move |tx| settle(tx, &s, &pat, outcome, response.clone(), now)).await?;
        app.wake.notify_one();
    }
    Ok(())
}
