//! Wallet calls as durable jobs: a plan that asks for a call schedules one; a worker claims it (with a
//! lease), makes the request outside any transaction, and hands the answer back to [`apply`], which
//! makes it a state change. A worker that dies mid-call loses its lease, and the call is handed out
//! again with its `tries` counted, so the wallet knows an earlier answer may have been lost.

use std::time::Duration;

use kasir_domain::{Mode, Timestamp};
use kasir_store::{Job, Scope, StoreError, Tx};
use serde::{Deserialize, Serialize};

use super::{Answer, Call, CallOp};
use crate::{attempts, refunds, AppError};

pub const WALLET_CALL: &str = "wallet_call";

#[derive(Debug, Serialize, Deserialize)]
struct CallJob {
    account_id: String,
    mode: Mode,
    attempt_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_id: Option<String>,
    op: CallOp,
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
    let job = CallJob {
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt_id: attempt_id.into(),
        refund_id: refund_id.map(str::to_string),
        op,
    };
    tx.insert_job(WALLET_CALL, &serde_json::to_string(&job)?, at, now)
}

/// A call a worker is to make, and the job it came from.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub job_id: i64,
    pub scope: Scope,
    pub call: Call,
}

/// Leases up to `limit` due calls for `lease`, each with the attempt (and refund) as they are now.
pub fn claim(tx: &mut dyn Tx, now: Timestamp, limit: usize, lease: Duration) -> Result<Vec<PendingCall>, StoreError> {
    let jobs = tx.claim_jobs(&[WALLET_CALL], now, limit, lease)?;
    let mut calls = Vec::with_capacity(jobs.len());
    for job in jobs {
        match prepare(tx, &job, now) {
            Ok(Some(c)) => calls.push(c),
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
    let call = Call { op: j.op, mode: scope.mode, attempt, refund, tries: job.tries, now };
    Ok(Some(PendingCall { job_id: job.id, scope, call }))
}

/// Applies a wallet's answer to the call it answers, in one transaction: the outcome settles the
/// attempt or refund (if it has none yet), a request to ask again schedules that, and the job is done.
pub fn apply(tx: &mut dyn Tx, pending: &PendingCall, answer: Answer, now: Timestamp) -> Result<(), AppError> {
    let (scope, call) = (&pending.scope, &pending.call);
    match answer {
        Answer::Settled(outcome) => {
            attempts::settle(tx, scope, &call.attempt.id, outcome, now, None)?;
        }
        Answer::Refunded(outcome) => {
            if let Some(r) = &call.refund {
                refunds::settle(tx, scope, &r.id, outcome, now, None)?;
            }
        }
        Answer::Again { op, at } => {
            let refund_id = call.refund.as_ref().map(|r| r.id.as_str());
            schedule(tx, scope, op, &call.attempt.id, refund_id, at, now)?;
        }
        Answer::Done => {}
    }
    tx.delete_job(pending.job_id)?;
    Ok(())
}
