//! Payins: create, confirm, update, cancel. Each loads the payin, lets the domain decide, and persists
//! the new state with its events and the attempt's schedule in the caller's transaction.

use kasir_domain::{
    codes, Amount, Confirmation, Confirmed, Currency, DomainError, Event, EventType, NewPayin, Payin, PayinFields,
    PaymentMethodDetails, Timestamp,
};
use kasir_store::{Scope, StoreError, Tx};

use crate::outbox::Handoff;
use crate::{checkouts, customers, outbox, timers, AppError, Ctx};

/// The confirm fields of a request, before the customer it names is loaded.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub payment_method: PaymentMethodDetails,
    pub customer_id: Option<String>,
    pub fields: PayinFields,
}

#[derive(Debug, Clone)]
pub struct CreatePayin {
    pub amount: Amount,
    pub currency: Currency,
    pub new: NewPayin,
    pub customer_id: Option<String>,
    pub confirm: Option<ConfirmRequest>,
}

/// The payin, or 404 naming `id`. In a write transaction this takes the payin's lock.
pub fn load(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<Payin, AppError> {
    tx.payin(scope, id)?.ok_or_else(|| DomainError::not_found("payin", id, "id").into())
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, req: CreatePayin) -> Result<Payin, AppError> {
    let customer = req.customer_id.as_deref().map(|id| customers::load(tx, &ctx.scope, id, "customer")).transpose()?;
    let (mut payin, mut events) = Payin::create(req.amount, req.currency, req.new, ctx.now);
    if let Some(c) = &customer {
        payin.link_customer(c);
    }
    if let Some(confirm) = req.confirm {
        // Validate the confirm before anything is written, so a bad one-call request leaves nothing behind.
        let confirmed = decide_confirm(tx, ctx, &mut payin, confirm)?;
        tx.insert_payin(&ctx.scope, &payin)?;
        persist_confirmed(tx, ctx, confirmed, &mut events)?;
    } else {
        tx.insert_payin(&ctx.scope, &payin)?;
    }
    outbox::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now, None)?;
    Ok(payin)
}

fn decide_confirm(tx: &mut dyn Tx, ctx: &Ctx, payin: &mut Payin, req: ConfirmRequest) -> Result<Confirmed, AppError> {
    let customer = req.customer_id.as_deref().map(|id| customers::load(tx, &ctx.scope, id, "customer")).transpose()?;
    let method = req.payment_method.kind().as_str();
    let c = Confirmation { payment_method: req.payment_method, customer, fields: req.fields };
    let confirmed = payin.confirm(c, &ctx.rules, ctx.now)?;
    // A push that no wallet would send could only expire: refuse it (after the payin's own refusals,
    // and before anything is written).
    if ctx.wallets.of(ctx.scope.mode).is_none() {
        return Err(DomainError::rejected(
            codes::UNSUPPORTED_PAYMENT_METHOD,
            format!(
                "{method} cannot be charged with {} keys: this Kasir has no connection to the wallet configured \
                 (docs/ovo.md); test keys use the sandbox",
                ctx.scope.mode.as_str()
            ),
            "payment_method_details.type",
        )
        .into());
    }
    Ok(confirmed)
}

fn persist_confirmed(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    confirmed: Confirmed,
    events: &mut Vec<Event>,
) -> Result<(), AppError> {
    if let Some(c) = &confirmed.new_customer {
        tx.insert_customer(&ctx.scope, c)?;
    }
    tx.insert_attempt(&ctx.scope, &confirmed.attempt).map_err(|e| match e {
        StoreError::Conflict(_) => AppError::Domain(DomainError::conflict(
            codes::PAYIN_INVALID_STATE,
            format!("payin {} already has a payment attempt awaiting the customer", confirmed.attempt.payin),
            "status",
        )),
        other => other.into(),
    })?;
    timers::schedule_attempt(tx, ctx, &confirmed.attempt)?;
    events.push(Event::new(EventType::PaymentAttemptCreated, &confirmed.attempt, ctx.now));
    events.extend(confirmed.events);
    Ok(())
}

pub fn confirm(tx: &mut dyn Tx, ctx: &Ctx, id: &str, req: ConfirmRequest) -> Result<Payin, AppError> {
    let mut payin = load(tx, &ctx.scope, id)?;
    let confirmed = decide_confirm(tx, ctx, &mut payin, req)?;
    let mut events = Vec::new();
    persist_confirmed(tx, ctx, confirmed, &mut events)?;
    tx.update_payin(&payin)?;
    outbox::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now, None)?;
    Ok(payin)
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, fields: PayinFields) -> Result<Payin, AppError> {
    let mut payin = load(tx, &ctx.scope, id)?;
    payin.update(fields)?;
    tx.update_payin(&payin)?;
    Ok(payin)
}

pub fn cancel(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Payin, AppError> {
    cancel_at(tx, &ctx.scope, id, ctx.now, None)
}

/// Cancels the payin at `now`; its live attempt fails with it, and its checkout (if any) expires.
pub fn cancel_at(
    tx: &mut dyn Tx,
    scope: &Scope,
    id: &str,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<Payin, AppError> {
    let mut payin = load(tx, scope, id)?;
    let mut live = match payin.latest_payment_attempt.as_str() {
        "" => None,
        pat => Some(crate::attempts::load(tx, scope, pat)?),
    };
    let pushed = live.as_ref().is_some_and(|a| !a.status.is_final() && a.response.is_some());
    let events = payin.cancel(live.as_mut(), now)?;
    if let Some(a) = &live {
        tx.update_attempt(a)?;
        if pushed {
            // Its push may still be waiting on the customer's phone: it is reversed, so that it can no
            // longer be approved (a reversal already made answers 73, which ends this one).
            crate::wallet::calls::schedule(tx, scope, crate::wallet::CallOp::Reverse, &a.id, None, now, now)?;
        }
    }
    tx.update_payin(&payin)?;
    outbox::emit(tx, scope, &events, &payin.webhook_url, now, handoff.as_deref_mut())?;
    checkouts::follow(tx, scope, &payin, now, handoff)?;
    Ok(payin)
}
