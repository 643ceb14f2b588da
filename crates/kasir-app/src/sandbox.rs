//! The sandbox controls: resolve a test-mode attempt or refund now, instead of waiting for its timer.
//! Test keys only; to a live key they do not exist.

use kasir_domain::{codes, DomainError, FieldError, Mode, Outcome, PaymentAttempt, Refund};
use kasir_store::Tx;

use crate::wallet::RefundOutcome;
use crate::{attempts, refunds, AppError, Ctx};

/// What a control resolves: an attempt with a wallet outcome, or a refund with one.
#[derive(Debug, Clone, Copy)]
pub enum Resolve {
    Attempt(Outcome),
    Refund(RefundOutcome),
}

/// What it resolved.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one value, answered at once: boxing would only add an allocation
pub enum Resolved {
    Attempt(PaymentAttempt),
    Refund(Refund),
}

/// Applies `what` to the attempt or refund `id` now: 404 to a live key, 409 when it already has its outcome.
pub fn resolve(tx: &mut dyn Tx, ctx: &Ctx, id: &str, what: Resolve) -> Result<Resolved, AppError> {
    if ctx.scope.mode == Mode::Live {
        let why = FieldError::new(codes::NOT_FOUND, "the sandbox control answers test keys only", "path");
        return Err(DomainError::NotFound(why).into());
    }
    let (done, kind) = match what {
        Resolve::Attempt(o) => {
            (attempts::settle(tx, &ctx.scope, id, o, ctx.now, None)?.map(Resolved::Attempt), "payment attempt")
        }
        Resolve::Refund(o) => (refunds::settle(tx, &ctx.scope, id, o, ctx.now, None)?.map(Resolved::Refund), "refund"),
    };
    done.ok_or_else(|| {
        DomainError::conflict(codes::PAYIN_INVALID_STATE, format!("{kind} {id} already has its outcome"), "status")
            .into()
    })
}
