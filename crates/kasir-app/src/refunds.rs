//! Refunds: money going back to the customer's wallet.

use kasir_domain::{
    codes, AttemptStatus, DomainError, FieldError, Mode, Refund, RefundFailure, RefundRequest, RefundStatus, Timestamp,
};
use kasir_store::{Scope, StoreError, Tx};

use crate::outbox::{self, Handoff};
use crate::wallet::RefundOutcome;
use crate::{attempts, payins, timers, AppError, Ctx};

/// A refund request and the payin (or attempt) it names.
#[derive(Debug, Clone)]
pub struct CreateRefund {
    pub payin_id: Option<String>,
    pub attempt_id: Option<String>,
    pub request: RefundRequest,
}

fn no_such(what: &str, id: &str, remarks: &str) -> AppError {
    DomainError::missing(codes::REFUND_INVALID_PAYIN, what, id, remarks).into()
}

/// A `payment_attempt` that cannot be refunded alongside the payin named with it.
fn refused_attempt(message: String) -> AppError {
    DomainError::NotFound(FieldError::new(codes::REFUND_INVALID_PAYIN, message, "payment_attempt")).into()
}

/// Starts a refund: checks the rules, records it `pending` with its event, and schedules its outcome.
pub fn create(tx: &mut dyn Tx, ctx: &Ctx, req: CreateRefund) -> Result<Refund, AppError> {
    let (payin, attempt) = match (&req.payin_id, &req.attempt_id) {
        (Some(id), None) => {
            let payin = tx.payin(&ctx.scope, id)?.ok_or_else(|| no_such("payin", id, "payin"))?;
            let attempt = match payin.latest_payment_attempt.as_str() {
                "" => None,
                pat => tx.attempt(&ctx.scope, pat)?,
            };
            (payin, attempt)
        }
        (payin_id, Some(pat)) => {
            let attempt =
                tx.attempt(&ctx.scope, pat)?.ok_or_else(|| no_such("payment_attempt", pat, "payment_attempt"))?;
            if let Some(id) = payin_id {
                // Both named: they must agree, and the attempt must be the payment to refund.
                tx.payin(&ctx.scope, id)?.ok_or_else(|| no_such("payin", id, "payin"))?;
                if attempt.payin != *id {
                    return Err(refused_attempt(format!(
                        "payment_attempt {pat} belongs to payin {}, not {id}",
                        attempt.payin
                    )));
                }
                if attempt.status != AttemptStatus::Succeeded {
                    return Err(refused_attempt(format!(
                        "payment_attempt {pat} did not succeed (status {}), so nothing of it can be refunded",
                        attempt.status.as_str()
                    )));
                }
            }
            (payins::load(tx, &ctx.scope, &attempt.payin)?, Some(attempt))
        }
        (None, None) => {
            return Err(
                DomainError::invalid(FieldError::new(codes::REFUND_NO_PAYIN, "payin is required", "payin")).into()
            )
        }
    };
    let attempt = match attempt {
        Some(a) if a.status == AttemptStatus::Succeeded => a,
        _ => {
            return Err(DomainError::conflict(
                codes::REFUND_NOT_SUCCEEDED,
                format!("payin {} has no succeeded payment to refund (status {})", payin.id, payin.status.as_str()),
                if req.payin_id.is_some() { "payin" } else { "payment_attempt" },
            )
            .into())
        }
    };
    let existing = tx.refunds_of(&ctx.scope, &payin.id)?;
    let (refund, events) = Refund::request(&payin, &attempt, &existing, req.request, ctx.now)?;
    tx.insert_refund(&ctx.scope, &refund).map_err(|e| match e {
        StoreError::Conflict(_) => AppError::Domain(DomainError::conflict(
            codes::REFUND_ALREADY_REFUNDED,
            format!("payin {} is already refunded or being refunded", payin.id),
            "payin",
        )),
        other => other.into(),
    })?;
    outbox::emit(tx, &ctx.scope, &events, refund.webhook_target(&payin), ctx.now, None)?;
    timers::schedule_refund(tx, ctx, &refund, &attempt)?;
    Ok(refund)
}

/// Applies the wallet's answer to a refund now. `Ok(None)` when the refund already has one.
pub fn settle(
    tx: &mut dyn Tx,
    scope: &Scope,
    refund_id: &str,
    outcome: RefundOutcome,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<Option<Refund>, AppError> {
    settle_described(tx, scope, refund_id, outcome, None, now, handoff)
}

/// [`settle`], with `description` as the refund's `status_description` (see [`Refund::settle_described`]).
fn settle_described(
    tx: &mut dyn Tx,
    scope: &Scope,
    refund_id: &str,
    outcome: RefundOutcome,
    description: Option<String>,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<Option<Refund>, AppError> {
    let not_found = || AppError::Domain(DomainError::not_found("refund", refund_id, "id"));
    // Lock the payin first, then read the refund and attempt as they are under that lock.
    let payin_id = tx.refund(scope, refund_id)?.ok_or_else(not_found)?.payin;
    let payin = payins::load(tx, scope, &payin_id)?;
    let mut refund = tx.refund(scope, refund_id)?.ok_or_else(not_found)?;
    let mut attempt = attempts::load(tx, scope, &refund.payment_attempt)?;
    let Some(events) = refund.settle_described(&mut attempt, outcome, description, now) else { return Ok(None) };
    tx.update_refund(&refund)?;
    tx.update_attempt(&attempt)?;
    outbox::emit(tx, scope, &events, refund.webhook_target(&payin), now, handoff)?;
    Ok(Some(refund))
}

/// How a pending refund's `status_description` starts while it waits for a manual transfer.
pub const AWAITING_TRANSFER: &str = "awaiting_manual_transfer";

/// Marks a pending refund as waiting for a manual transfer (the wallet cannot give the money back
/// itself: for OVO, the void's day is over or OVO refused the void). It stays `pending` until an
/// operator records the transfer ([`finish_transfer`]).
pub fn await_transfer(tx: &mut dyn Tx, scope: &Scope, refund_id: &str, why: &str) -> Result<(), AppError> {
    let not_found = || AppError::Domain(DomainError::not_found("refund", refund_id, "id"));
    let payin_id = tx.refund(scope, refund_id)?.ok_or_else(not_found)?.payin;
    payins::load(tx, scope, &payin_id)?; // the payin's lock, as every change to its refunds takes
    let mut refund = tx.refund(scope, refund_id)?.ok_or_else(not_found)?;
    if refund.status != RefundStatus::Pending {
        return Ok(());
    }
    refund.status_description =
        format!("{AWAITING_TRANSFER}: {why}; the money is to be sent to the customer's OVO account by hand");
    tx.update_refund(&refund)?;
    Ok(())
}

/// Whether a refund waits for a manual transfer.
pub fn awaits_transfer(refund: &Refund) -> bool {
    refund.status == RefundStatus::Pending && refund.status_description.starts_with(AWAITING_TRANSFER)
}

/// Every refund, of every account and mode, that waits for a manual transfer, oldest first.
pub fn awaiting_transfer(tx: &mut dyn Tx) -> Result<Vec<(Scope, Refund)>, StoreError> {
    let mut found = Vec::new();
    for account in tx.accounts()? {
        for mode in [Mode::Live, Mode::Test] {
            let scope = Scope { account_id: account.id.clone(), mode };
            found.extend(awaiting_transfer_in(tx, &scope)?.into_iter().map(|r| (scope.clone(), r)));
        }
    }
    found.sort_by_key(|(_, r)| r.created_at);
    Ok(found)
}

/// The refunds of one account and mode that wait for a manual transfer, oldest first.
pub fn awaiting_transfer_in(tx: &mut dyn Tx, scope: &Scope) -> Result<Vec<Refund>, StoreError> {
    let mut found: Vec<Refund> = tx.pending_refunds(scope)?.into_iter().filter(awaits_transfer).collect();
    found.sort_by_key(|r| r.created_at);
    Ok(found)
}

/// Records the end of a manual transfer: `Ok(reference)` (the transfer's reference, kept on the refund)
/// or `Err(why)` (it could not be made). The refund's webhooks follow as for any other outcome. Only a
/// refund that awaits a transfer can be finished this way.
pub fn finish_transfer(
    tx: &mut dyn Tx,
    refund_id: &str,
    result: Result<&str, &str>,
    now: Timestamp,
) -> Result<Refund, AppError> {
    let scope = find_scope(tx, refund_id)?;
    let refund = tx.refund(&scope, refund_id)?.ok_or_else(|| DomainError::not_found("refund", refund_id, "id"))?;
    if !awaits_transfer(&refund) {
        return Err(DomainError::conflict(
            codes::REFUND_ALREADY_REFUNDED,
            format!(
                "refund {refund_id} does not await a manual transfer (status {}: {})",
                refund.status.as_str(),
                refund.status_description
            ),
            "id",
        )
        .into());
    }
    let outcome = result.map(drop).map_err(|_| RefundFailure::Rejected);
    let description = match result {
        Ok(reference) => format!("manual_transfer: sent to the customer by hand, reference {reference}"),
        Err(why) => format!("{}; the manual transfer could not be made: {why}", RefundFailure::Rejected.description()),
    };
    settle_described(tx, &scope, refund_id, outcome, Some(description), now, None)?
        .ok_or_else(|| DomainError::not_found("refund", refund_id, "id").into())
}

/// The account and mode a refund id belongs to.
fn find_scope(tx: &mut dyn Tx, refund_id: &str) -> Result<Scope, AppError> {
    for account in tx.accounts()? {
        for mode in [Mode::Live, Mode::Test] {
            let scope = Scope { account_id: account.id.clone(), mode };
            if tx.refund(&scope, refund_id)?.is_some() {
                return Ok(scope);
            }
        }
    }
    Err(DomainError::not_found("refund", refund_id, "id").into())
}
