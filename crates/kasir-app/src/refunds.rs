//! Refunds: money going back to the customer's wallet.

use kasir_domain::{codes, AttemptStatus, DomainError, FieldError, Refund, RefundRequest, Timestamp};
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
    let not_found = || AppError::Domain(DomainError::not_found("refund", refund_id, "id"));
    // Lock the payin first, then read the refund and attempt as they are under that lock.
    let payin_id = tx.refund(scope, refund_id)?.ok_or_else(not_found)?.payin;
    let payin = payins::load(tx, scope, &payin_id)?;
    let mut refund = tx.refund(scope, refund_id)?.ok_or_else(not_found)?;
    let mut attempt = attempts::load(tx, scope, &refund.payment_attempt)?;
    let Some(events) = refund.settle(&mut attempt, outcome, now) else { return Ok(None) };
    tx.update_refund(&refund)?;
    tx.update_attempt(&attempt)?;
    outbox::emit(tx, scope, &events, refund.webhook_target(&payin), now, handoff)?;
    Ok(Some(refund))
}
