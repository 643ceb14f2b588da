//! Checkouts: create one (its payin, customer and expiry timer with it), read it with what follows from
//! its payin, expire it, and let the checkout follow every change to its payin, however the payin was
//! changed (the hosted page, the payin API, a timer). The hosted pages push through here too.

use kasir_domain::{
    codes, Amount, Checkout, CheckoutStatus, Customer, DomainError, EventType, IdKind, NewCheckout, NewPayin, Payin,
    PayinFields, PaymentMethodDetails, PaymentStatus, Timestamp,
};
use kasir_store::{Scope, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::outbox::{self, Handoff};
use crate::payins::{self, ConfirmRequest};
use crate::{AppError, Ctx};

/// The timer that expires a checkout at its `expires_at`.
pub const CHECKOUT_TIMER: &str = "checkout_timer";

/// How many pushes a page may send for one payin: past it, the customer is told to ask the merchant.
pub const MAX_PUSHES: usize = 5;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CheckoutTimer {
    pub(crate) account_id: String,
    pub(crate) mode: kasir_domain::Mode,
    pub(crate) checkout_id: String,
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, new: NewCheckout) -> Result<Checkout, AppError> {
    for m in &new.payment_methods {
        m.check_amount(new.amount, new.currency, ctx.rules.limits.of(*m))?;
    }
    let expires_at = match new.expires_at {
        Some(at) if at <= ctx.now => {
            return Err(
                DomainError::rejected(codes::INVALID_FIELD, "expires_at must be in the future", "expires_at").into()
            )
        }
        Some(at) => at,
        None => ctx.now.plus(ctx.rules.checkout_lifetime),
    };
    let amount = Amount::new(new.amount)
        .map_err(|e| DomainError::rejected(codes::INVALID_AMOUNT, format!("amount {e}"), "amount"))?;
    let customer = Customer::new(&new.customer_details, String::new(), None, ctx.now);
    let fields = PayinFields {
        customer_details: Some(new.customer_details.clone()),
        billing_details: new.billing_details.clone(),
        shipping_details: new.shipping_details.clone(),
        success_url: Some(new.success_url.clone()),
        cancel_url: Some(new.cancel_url.clone()),
        webhook_url: Some(new.webhook_url.clone()),
        metadata: new.metadata.clone(),
        reference_id: Some(new.reference_id.clone()),
        ..PayinFields::default()
    };
    let payin_request = NewPayin { transaction_description: new.transaction_description.clone(), details: fields };
    let (mut payin, mut events) = Payin::create(amount, new.currency, payin_request, ctx.now);
    payin.link_customer(&customer);
    let checkout = Checkout::create(new, &payin, expires_at, &ctx.pages, ctx.now);
    tx.insert_customer(&ctx.scope, &customer)?;
    tx.insert_payin(&ctx.scope, &payin)?;
    tx.insert_checkout(&ctx.scope, &checkout)?;
    let timer = CheckoutTimer {
        account_id: ctx.scope.account_id.clone(),
        mode: ctx.scope.mode,
        checkout_id: checkout.id.clone(),
    };
    tx.insert_job(CHECKOUT_TIMER, &serde_json::to_string(&timer).map_err(StoreError::from)?, expires_at, ctx.now)?;
    events.push(checkout.event(EventType::CheckoutCreated, ctx.now));
    outbox::emit(tx, &ctx.scope, &events, &payin.webhook_url, ctx.now, None)?;
    Ok(checkout)
}

/// The checkout `id` names: its own `chk_…`, or the `pay_…` behind it (which Tazapay's plugin keeps).
fn find(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<Checkout, AppError> {
    let found = if IdKind::Payin.matches(id) { tx.checkout_of_payin(scope, id)? } else { tx.checkout(scope, id)? };
    found.ok_or_else(|| DomainError::not_found("checkout", id, "id").into())
}

/// The checkout as it is now: its own state and what follows from its payin.
pub fn view(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<Checkout, AppError> {
    let mut checkout = find(tx, scope, id)?;
    let payin = payins::load(tx, scope, &checkout.payin)?;
    let attempts = tx.attempts_of(scope, &payin.id)?;
    checkout.follow(&payin, attempts);
    Ok(checkout)
}

/// Expires an unpaid checkout now: its payin is cancelled (`payin.cancelled`), and the checkout follows
/// (`checkout.expired`). A checkout whose payment is under way or done cannot expire (409).
pub fn expire(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Checkout, AppError> {
    let checkout = find(tx, &ctx.scope, id)?;
    let payin = payins::load(tx, &ctx.scope, &checkout.payin)?;
    checkout.check_expirable(&payin)?;
    payins::cancel_at(tx, &ctx.scope, &payin.id, ctx.now, None)?;
    view(tx, &ctx.scope, &checkout.id)
}

/// Lets the checkout behind `payin`, if any, follow the payin's new state: stores the change and emits
/// `checkout.paid` or `checkout.expired` to the checkout's `webhook_url`.
pub fn follow(
    tx: &mut dyn Tx,
    scope: &Scope,
    payin: &Payin,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    let Some(mut checkout) = tx.checkout_of_payin(scope, &payin.id)? else { return Ok(()) };
    let before = (checkout.status, checkout.payment_status, checkout.amount_paid);
    let attempts = tx.attempts_of(scope, &payin.id)?;
    let events = checkout.after_payin_change(payin, attempts, now);
    if (checkout.status, checkout.payment_status, checkout.amount_paid) != before {
        tx.update_checkout(&checkout)?;
    }
    outbox::emit(tx, scope, &events, &checkout.webhook_url, now, handoff)
}

/// A due expiry timer: an unpaid checkout expires; one whose push is still awaiting the customer waits
/// for that push's outcome (the timer is set again for the end of its window); a paid one stays.
pub(crate) fn on_timer(
    tx: &mut dyn Tx,
    timer: &CheckoutTimer,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<(), AppError> {
    let scope = Scope { account_id: timer.account_id.clone(), mode: timer.mode };
    let checkout = find(tx, &scope, &timer.checkout_id)?;
    if checkout.status == CheckoutStatus::Expired {
        return Ok(());
    }
    let payin = payins::load(tx, &scope, &checkout.payin)?;
    match PaymentStatus::of(&payin) {
        PaymentStatus::Paid => Ok(()),
        PaymentStatus::Unpaid => payins::cancel_at(tx, &scope, &payin.id, now, handoff).map(drop),
        PaymentStatus::Processing => {
            // Just after the window's end; past it (a live push being reversed), every half minute.
            let window_end = payin.latest_payment_attempt_data.as_ref().map_or(now, |d| d.expires_at);
            let again = if now < window_end {
                window_end.plus(std::time::Duration::from_secs(1))
            } else {
                now.plus(std::time::Duration::from_secs(30))
            };
            tx.insert_job(CHECKOUT_TIMER, &serde_json::to_string(timer).map_err(StoreError::from)?, again, now)?;
            Ok(())
        }
    }
}

/// Why a page may not send another push for `payin` now, in a code the page words for the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefused {
    /// The checkout expired or its time ran out, or the payin was cancelled.
    Closed,
    /// The payin is paid.
    Paid,
    /// A push is already awaiting the customer.
    Waiting,
    /// [`MAX_PUSHES`] were sent already.
    TooMany,
}

/// What a page may do for a payin: `Ok` when a push may be sent now.
pub fn may_push(payin: &Payin, checkout: Option<&Checkout>, pushes: usize, now: Timestamp) -> Result<(), PushRefused> {
    match PaymentStatus::of(payin) {
        PaymentStatus::Paid => return Err(PushRefused::Paid),
        PaymentStatus::Processing => return Err(PushRefused::Waiting),
        PaymentStatus::Unpaid => {}
    }
    if payin.status.is_final() || checkout.is_some_and(|c| !c.is_open(now)) {
        return Err(PushRefused::Closed);
    }
    if pushes >= MAX_PUSHES {
        return Err(PushRefused::TooMany);
    }
    Ok(())
}

/// A push from a hosted page: confirms `payin_id` with `method`, through the payin API's own confirm,
/// unless [`may_push`] refuses it.
pub fn push(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    payin_id: &str,
    method: PaymentMethodDetails,
) -> Result<Result<Payin, PushRefused>, AppError> {
    let payin = payins::load(tx, &ctx.scope, payin_id)?;
    let checkout = tx.checkout_of_payin(&ctx.scope, payin_id)?;
    let pushes = tx.attempts_of(&ctx.scope, payin_id)?.len();
    if let Err(why) = may_push(&payin, checkout.as_ref(), pushes, ctx.now) {
        return Ok(Err(why));
    }
    let request = ConfirmRequest { payment_method: method, customer_id: None, fields: PayinFields::default() };
    Ok(Ok(payins::confirm(tx, ctx, payin_id, request)?))
}
