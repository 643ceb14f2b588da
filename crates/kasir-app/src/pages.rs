//! What a hosted page shows, found by the token in its address alone (no API key): a checkout's
//! `token`, or a payin's `client_token`. Each page reads the payin, its checkout, its attempts and its
//! merchant's name in one snapshot, and [`PageState`] says which page that is.

use kasir_domain::{
    payin_of_client_token, Checkout, CheckoutStatus, EventType, FailureReason, Payin, PayinStatus, PaymentAttempt,
    Timestamp,
};
use kasir_store::{Scope, StoreError, Tx};
use subtle::ConstantTimeEq;

use crate::checkouts::MAX_PUSHES;

/// Which token a page was reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// `/checkout/{token}`: a checkout's page.
    Checkout,
    /// `/pay/{client_token}`: an API-made payin's page.
    Payin,
}

/// Everything a page needs, read at once.
#[derive(Debug, Clone)]
pub struct PageData {
    pub scope: Scope,
    pub payin: Payin,
    pub checkout: Option<Checkout>,
    /// Oldest first.
    pub attempts: Vec<PaymentAttempt>,
    /// The merchant's name, as its account has it.
    pub merchant: String,
    /// When the payin succeeded, if it did.
    pub paid_at: Option<Timestamp>,
}

/// Where the customer is in paying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Nothing sent yet: choose a method and send the first push.
    Fresh,
    /// A push awaits the customer's approval until `until`.
    Waiting { until: Timestamp },
    /// The last push failed (why, when known); another may be sent.
    Failed { reason: Option<FailureReason> },
    /// The last push failed and no more may be sent from the page.
    OutOfTries { reason: Option<FailureReason> },
    /// Paid.
    Paid,
    /// Expired or cancelled: nothing can be paid here any more.
    Closed,
}

impl PageData {
    pub fn state(&self, now: Timestamp) -> PageState {
        if self.payin.status == PayinStatus::Succeeded {
            return PageState::Paid;
        }
        let latest = self.attempts.last();
        if matches!(self.payin.status, PayinStatus::RequiresAction | PayinStatus::Processing) {
            let until = latest.map_or(now, |a| a.expires_at);
            return PageState::Waiting { until };
        }
        let closed = self.payin.status == PayinStatus::Cancelled
            || self.checkout.as_ref().is_some_and(|c| c.status == CheckoutStatus::Expired || now >= c.expires_at);
        if closed {
            return PageState::Closed;
        }
        match latest {
            None => PageState::Fresh,
            Some(a) if self.attempts.len() >= MAX_PUSHES => PageState::OutOfTries { reason: a.failure_reason() },
            Some(a) => PageState::Failed { reason: a.failure_reason() },
        }
    }

    /// The phone the last push went to, if any.
    pub fn last_phone(&self) -> Option<&kasir_domain::Phone> {
        self.attempts.last().and_then(|a| a.payment_method_details.phone())
    }
}

/// The page a token opens, or `None` when it opens none.
pub fn find(tx: &mut dyn Tx, kind: PageKind, token: &str) -> Result<Option<PageData>, StoreError> {
    let (scope, payin, checkout) = match kind {
        PageKind::Checkout => {
            let Some((scope, checkout)) = tx.checkout_by_token(token)? else { return Ok(None) };
            let Some(payin) = tx.payin(&scope, &checkout.payin)? else { return Ok(None) };
            (scope, payin, Some(checkout))
        }
        PageKind::Payin => {
            let Some(id) = payin_of_client_token(token) else { return Ok(None) };
            let Some((scope, payin)) = tx.payin_anywhere(&id)? else { return Ok(None) };
            if !bool::from(payin.client_token.as_bytes().ct_eq(token.as_bytes())) {
                return Ok(None);
            }
            let checkout = tx.checkout_of_payin(&scope, &payin.id)?;
            (scope, payin, checkout)
        }
    };
    let attempts = tx.attempts_of(&scope, &payin.id)?;
    let merchant = tx.account(&scope.account_id)?.map(|a| a.name).unwrap_or_default();
    let paid_at = if payin.status == PayinStatus::Succeeded {
        let events = tx.events_of(&scope, &payin.id)?;
        events.iter().find(|e| e.kind == EventType::PayinSucceeded).map(|e| e.created_at)
    } else {
        None
    };
    let mut checkout = checkout;
    if let Some(c) = &mut checkout {
        c.follow(&payin, attempts.clone());
    }
    Ok(Some(PageData { scope, payin, checkout, attempts, merchant, paid_at }))
}
