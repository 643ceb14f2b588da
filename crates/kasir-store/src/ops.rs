//! The state changes Kasir makes, written once over [`Tx`]: load, let the domain decide, persist the new
//! state with its events. Handlers and workers call these inside `Store::write`.

use kasir_domain::{
    codes, Amount, Confirmation, Currency, Customer, CustomerDetails, DomainError, Event, FieldError, NewPayin, Payin,
    PayinFields, PayinRules, PaymentAttempt, PaymentMethodDetails, Timestamp,
};
use serde_json::{Map, Value};

use crate::{Scope, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who acts, when, under which rules.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub scope: Scope,
    pub now: Timestamp,
    pub rules: PayinRules,
}

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

fn load_customer(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Customer, OpError> {
    tx.customer(&ctx.scope, id)?.ok_or_else(|| DomainError::not_found("customer", id, "customer").into())
}

pub fn load_payin(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<Payin, OpError> {
    tx.payin(scope, id)?.ok_or_else(|| DomainError::not_found("payin", id, "id").into())
}

pub fn load_attempt(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<PaymentAttempt, OpError> {
    tx.attempt(scope, id)?.ok_or_else(|| DomainError::not_found("payment_attempt", id, "id").into())
}

/// Loads an attempt under its payin's lock. Every change to a payin, its attempts or its refunds takes
/// the payin's lock first (a row lock on PostgreSQL), so concurrent changes queue in one order.
pub fn lock_attempt(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<(Payin, PaymentAttempt), OpError> {
    let attempt = load_attempt(tx, scope, id)?;
    let payin = load_payin(tx, scope, &attempt.payin)?;
    if tx.runs_alone() {
        return Ok((payin, attempt)); // nothing could have changed it since the first read
    }
    // Read again under the payin's lock: another transaction may have changed it before we had it.
    let attempt = load_attempt(tx, scope, id)?;
    Ok((payin, attempt))
}

pub fn create_payin(tx: &mut dyn Tx, ctx: &Ctx, req: CreatePayin) -> Result<Payin, OpError> {
    let customer = req.customer_id.as_deref().map(|id| load_customer(tx, ctx, id)).transpose()?;
    let (mut payin, mut events) = Payin::create(req.amount, req.currency, req.new, ctx.now);
    if let Some(c) = &customer {
        payin.customer = c.id.clone();
        if payin.customer_details.is_none() {
            payin.customer_details = Some(c.details());
        }
    }
    if let Some(confirm) = req.confirm {
        // Validate the confirm before anything is written, so a bad one-call request leaves nothing behind.
        let confirmed = confirm_loaded(tx, ctx, &mut payin, confirm)?;
        tx.insert_payin(&ctx.scope, &payin)?;
        persist_confirmed(tx, ctx, confirmed, &mut events)?;
    } else {
        tx.insert_payin(&ctx.scope, &payin)?;
    }
    crate::jobs::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now)?;
    Ok(payin)
}

fn confirm_loaded(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    payin: &mut Payin,
    req: ConfirmRequest,
) -> Result<kasir_domain::Confirmed, OpError> {
    let customer = req.customer_id.as_deref().map(|id| load_customer(tx, ctx, id)).transpose()?;
    let c = Confirmation { payment_method: req.payment_method, customer, fields: req.fields };
    Ok(payin.confirm(c, &ctx.rules, ctx.now)?)
}

fn persist_confirmed(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    confirmed: kasir_domain::Confirmed,
    events: &mut Vec<Event>,
) -> Result<(), OpError> {
    if let Some(c) = &confirmed.new_customer {
        tx.insert_customer(&ctx.scope, c)?;
    }
    tx.insert_attempt(&ctx.scope, &confirmed.attempt).map_err(|e| match e {
        StoreError::Conflict(_) => OpError::Domain(DomainError::Conflict(FieldError::new(
            codes::PAYIN_INVALID_STATE,
            format!("payin {} already has a payment attempt awaiting the customer", confirmed.attempt.payin),
            "status",
        ))),
        other => other.into(),
    })?;
    crate::jobs::schedule_attempt(tx, &ctx.scope, &confirmed.attempt, ctx.rules.sandbox_delay, ctx.now)?;
    events.extend(confirmed.events);
    Ok(())
}

pub fn confirm_payin(tx: &mut dyn Tx, ctx: &Ctx, id: &str, req: ConfirmRequest) -> Result<Payin, OpError> {
    let mut payin = load_payin(tx, &ctx.scope, id)?;
    let confirmed = confirm_loaded(tx, ctx, &mut payin, req)?;
    let mut events = Vec::new();
    persist_confirmed(tx, ctx, confirmed, &mut events)?;
    tx.update_payin(&payin)?;
    crate::jobs::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now)?;
    Ok(payin)
}

pub fn update_payin(tx: &mut dyn Tx, ctx: &Ctx, id: &str, fields: PayinFields) -> Result<Payin, OpError> {
    let mut payin = load_payin(tx, &ctx.scope, id)?;
    payin.update(fields)?;
    tx.update_payin(&payin)?;
    Ok(payin)
}

pub fn cancel_payin(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Payin, OpError> {
    let mut payin = load_payin(tx, &ctx.scope, id)?;
    let mut live = if payin.latest_payment_attempt.is_empty() {
        None
    } else {
        Some(load_attempt(tx, &ctx.scope, &payin.latest_payment_attempt)?)
    };
    let events = payin.cancel(live.as_mut(), ctx.now)?;
    if let Some(a) = &live {
        tx.update_attempt(a)?;
    }
    tx.update_payin(&payin)?;
    crate::jobs::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now)?;
    Ok(payin)
}

pub fn update_attempt_metadata(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    metadata: Option<Map<String, Value>>,
) -> Result<PaymentAttempt, OpError> {
    let (_, mut a) = lock_attempt(tx, &ctx.scope, id)?;
    if let Some(m) = metadata {
        a.metadata = Some(m);
    }
    tx.update_attempt(&a)?;
    Ok(a)
}

pub fn create_customer(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    details: CustomerDetails,
    reference_id: String,
    metadata: Option<Map<String, Value>>,
) -> Result<Customer, OpError> {
    let c = Customer::new(&details, reference_id, metadata, ctx.now);
    tx.insert_customer(&ctx.scope, &c)?;
    Ok(c)
}

/// A refund request and the payin (or attempt) it names.
#[derive(Debug, Clone)]
pub struct CreateRefund {
    pub payin_id: Option<String>,
    pub attempt_id: Option<String>,
    pub request: kasir_domain::RefundRequest,
}

fn no_such(what: &str, id: &str, remarks: &str) -> OpError {
    OpError::Domain(DomainError::NotFound {
        code: kasir_domain::refund::codes::INVALID_PAYIN,
        message: format!("no such {what}: {id}"),
        remarks: remarks.into(),
    })
}

/// Starts a refund: checks the rules, records it `pending` with its event, and schedules its outcome.
pub fn create_refund(tx: &mut dyn Tx, ctx: &Ctx, req: CreateRefund) -> Result<kasir_domain::Refund, OpError> {
    use kasir_domain::refund::codes as rc;
    let (payin, attempt) = match (&req.payin_id, &req.attempt_id) {
        (Some(id), _) => {
            let payin = tx.payin(&ctx.scope, id)?.ok_or_else(|| no_such("payin", id, "payin"))?;
            let attempt = match payin.latest_payment_attempt.as_str() {
                "" => None,
                pat => tx.attempt(&ctx.scope, pat)?,
            };
            (payin, attempt)
        }
        (None, Some(pat)) => {
            let attempt =
                tx.attempt(&ctx.scope, pat)?.ok_or_else(|| no_such("payment_attempt", pat, "payment_attempt"))?;
            (load_payin(tx, &ctx.scope, &attempt.payin)?, Some(attempt))
        }
        (None, None) => {
            return Err(DomainError::invalid(FieldError::new(rc::NO_PAYIN, "payin is required", "payin")).into())
        }
    };
    let attempt = match attempt {
        Some(a) if a.status == kasir_domain::AttemptStatus::Succeeded => a,
        _ => {
            return Err(DomainError::Conflict(FieldError::new(
                rc::NOT_SUCCEEDED,
                format!("payin {} has no succeeded payment to refund (status {})", payin.id, payin.status.as_str()),
                if req.payin_id.is_some() { "payin" } else { "payment_attempt" },
            ))
            .into())
        }
    };
    let existing = tx.refunds_of(&ctx.scope, &payin.id)?;
    let (refund, events) = kasir_domain::Refund::request(&payin, &attempt, &existing, req.request, ctx.now)?;
    tx.insert_refund(&ctx.scope, &refund).map_err(|e| match e {
        StoreError::Conflict(_) => OpError::Domain(DomainError::Conflict(FieldError::new(
            rc::ALREADY_REFUNDED,
            format!("payin {} is already refunded or being refunded", payin.id),
            "payin",
        ))),
        other => other.into(),
    })?;
    let url = if refund.webhook_url.is_empty() { &payin.webhook_url } else { &refund.webhook_url };
    crate::jobs::emit(tx, &ctx.scope, &events, url, ctx.now)?;
    crate::jobs::schedule_refund(tx, &ctx.scope, &refund, &attempt, ctx.rules.sandbox_delay, ctx.now)?;
    Ok(refund)
}
