//! Payment attempts: their metadata, and the wallet's outcome applied to them.

use kasir_domain::{AttemptResponse, DomainError, Outcome, Payin, PaymentAttempt, Timestamp};
use kasir_store::{Scope, Tx};
use serde_json::{Map, Value};

use crate::outbox::{self, Handoff};
use crate::{payins, AppError, Ctx};

pub fn load(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<PaymentAttempt, AppError> {
    tx.attempt(scope, id)?.ok_or_else(|| DomainError::not_found("payment_attempt", id, "id").into())
}

/// Loads an attempt under its payin's lock. Every change to a payin, its attempts or its refunds takes
/// the payin's lock first (a row lock on PostgreSQL), so concurrent changes queue in one order.
pub fn lock(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<(Payin, PaymentAttempt), AppError> {
    let attempt = load(tx, scope, id)?;
    let payin = payins::load(tx, scope, &attempt.payin)?;
    if tx.runs_alone() {
        return Ok((payin, attempt)); // nothing could have changed it since the first read
    }
    // Read again under the payin's lock: another transaction may have changed it before we had it.
    let attempt = load(tx, scope, id)?;
    Ok((payin, attempt))
}

pub fn update_metadata(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    metadata: Option<Map<String, Value>>,
) -> Result<PaymentAttempt, AppError> {
    let (_, mut a) = lock(tx, &ctx.scope, id)?;
    if let Some(m) = metadata {
        a.metadata = Some(m);
    }
    tx.update_attempt(&a)?;
    Ok(a)
}

/// Applies a wallet's outcome to an attempt now. `Ok(None)` when the attempt already has its outcome.
/// With a `handoff`, the deliveries it schedules go straight to the calling worker (see [`Handoff`]).
pub fn settle(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt_id: &str,
    outcome: Outcome,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<Option<PaymentAttempt>, AppError> {
    settle_with(tx, scope, attempt_id, outcome, None, now, handoff)
}

/// [`settle`], keeping what the wallet recorded of the attempt (`response`, when it has one).
pub fn settle_with(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt_id: &str,
    outcome: Outcome,
    response: Option<AttemptResponse>,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<Option<PaymentAttempt>, AppError> {
    let (mut payin, mut attempt) = lock(tx, scope, attempt_id)?;
    let before = attempt.response.clone();
    if response.is_some() {
        attempt.response = response; // before the events are made, so that they carry it
    }
    let Some(events) = payin.settle(&mut attempt, outcome, now) else {
        attempt.response = before;
        return Ok(None);
    };
    tx.update_attempt(&attempt)?;
    tx.update_payin(&payin)?;
    outbox::emit(tx, scope, &events, &payin.webhook_url, now, handoff.as_deref_mut())?;
    crate::checkouts::follow(tx, scope, &payin, now, handoff)?;
    Ok(Some(attempt))
}
