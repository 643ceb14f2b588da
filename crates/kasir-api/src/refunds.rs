//! Refunds: `POST /v3/refund`, fetch, list, and the sandbox control for refunds.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kasir_domain::refund::codes as rc;
use kasir_domain::{
    codes, Amount, AmountError, Currency, DomainError, FieldError, Mode, Refund, RefundFailure, RefundRequest,
};
use kasir_store::jobs;
use kasir_store::ops::{self, CreateRefund, OpError};
use serde::Deserialize;
use serde_json::{Number, Value};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{parse_json, JsonBody};
use crate::dto::{metadata_field, url_field};
use crate::error::ErrorBody;
use crate::routes::{Envelope, List};
use crate::write::{self, ok};
use crate::{ApiError, AppState};

const MAX_REASON: usize = 255;

/// `POST /v3/refund`. Leave out `amount` and `currency` for a full refund.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateRefundRequest {
    /// The payin to refund (`pay_…`), or give `payment_attempt`.
    pub payin: Option<String>,
    pub payment_attempt: Option<String>,
    /// Minor units; for `ovo_idr` it must equal the payin's amount.
    #[schema(value_type = Option<i64>, example = 10000000)]
    pub amount: Option<Number>,
    #[schema(example = "IDR")]
    pub currency: Option<String>,
    #[schema(example = "Customer Return")]
    pub reason: Option<String>,
    /// Where this refund's events go; the payin's `webhook_url` when left out.
    pub webhook_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub reference_id: Option<String>,
}

impl CreateRefundRequest {
    fn parse(self, mode: Mode) -> Result<CreateRefund, ApiError> {
        let mut errors = Vec::new();
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.payin) && blank(&self.payment_attempt) {
            errors.push(FieldError::new(rc::NO_PAYIN, "payin is required (or payment_attempt)", "payin"));
        }
        let amount = match self.amount {
            None => None,
            Some(n) => match Amount::from_json(&n) {
                Ok(a) => Some(a.minor()),
                Err(AmountError::NotPositive) => {
                    errors.push(FieldError::new(rc::AMOUNT_NOT_POSITIVE, "amount must be greater than 0", "amount"));
                    None
                }
                Err(e) => {
                    errors.push(FieldError::new(codes::INVALID_AMOUNT, format!("amount {e}"), "amount"));
                    None
                }
            },
        };
        let currency = match self.currency.as_deref() {
            None => None,
            Some(c) => match Currency::parse(c.trim()) {
                Some(c) => Some(c),
                None => {
                    errors.push(FieldError::new(
                        rc::CURRENCY_MISMATCH,
                        format!("currency {c:?} is not the payin's"),
                        "currency",
                    ));
                    None
                }
            },
        };
        let reason = self.reason.unwrap_or_default();
        if reason.chars().count() > MAX_REASON {
            errors.push(FieldError::new(
                rc::INVALID_REASON,
                format!("reason must be at most {MAX_REASON} characters"),
                "reason",
            ));
        }
        let webhook_url = match url_field(self.webhook_url, "webhook_url", mode) {
            Ok(u) => u.unwrap_or_default(),
            Err(e) => {
                errors.push(FieldError::new(rc::INVALID_WEBHOOK_URL, e.message, e.remarks));
                String::new()
            }
        };
        let metadata = match metadata_field(self.metadata) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        Ok(CreateRefund {
            payin_id: self.payin.filter(|s| !s.trim().is_empty()),
            attempt_id: self.payment_attempt.filter(|s| !s.trim().is_empty()),
            request: RefundRequest {
                amount,
                currency,
                reason,
                reference_id: self.reference_id.unwrap_or_default(),
                webhook_url,
                metadata,
            },
        })
    }
}

#[utoipa::path(
    post, path = "/v3/refund", tag = "refund",
    request_body = CreateRefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The refund, `pending`", body = Envelope<Refund>),
        (status = 400, description = "Invalid request (30002, 30004, 30005, 30007, 30012, 30015, 30021)", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin (30000)", body = ErrorBody),
        (status = 409, description = "Not succeeded (30009) or already refunded (30010)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_refund(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreateRefundRequest>,
) -> Response {
    let req = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, body.idem, move |tx, ctx| ops::create_refund(tx, ctx, req.clone())).await
}

#[utoipa::path(
    get, path = "/v3/refund/{id}", tag = "refund",
    params(("id" = String, Path, description = "Refund id (`rfd_…`)")),
    responses(
        (status = 200, description = "The refund", body = Envelope<Refund>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_refund(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let scope = who.scope;
    let found = state.store.read(move |tx| {
        tx.refund(&scope, &id)?.ok_or_else(|| ApiError::from(DomainError::not_found("refund", &id, "id")))
    });
    match found.await {
        Ok(r) => ok(&r),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    get, path = "/v3/refund", tag = "refund",
    params(
        ("payin" = Option<String>, Query, description = "Only refunds of this payin"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "A refund id: list the refunds older than it"),
    ),
    responses(
        (status = 200, description = "Refunds, newest first", body = Envelope<List<Refund>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_refunds(
    State(state): State<AppState>,
    who: Principal,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let bad = |name: &str, why: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY_PARAMETER, format!("{name} {why}"), name)
            .into_response()
    };
    let Ok(Query(q)) = query else { return bad("query", "is not a valid query string") };
    let limit = match crate::events::limit_param(&q) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let payin = q.get("payin").filter(|s| !s.is_empty()).cloned();
    let after = q.get("starting_after").filter(|s| !s.is_empty()).cloned();
    let scope = who.scope;
    let page = state
        .store
        .read(move |tx| Ok::<_, ApiError>(tx.list_refunds(&scope, payin.as_deref(), limit, after.as_deref())?))
        .await;
    match page {
        Ok(Some(p)) => ok(&List::new(p.data, p.has_more)),
        Ok(None) => bad("starting_after", "is not a refund of this account and mode"),
        Err(e) => e.into_response(),
    }
}

/// `POST /v3/sandbox/refund/{id}/fail`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SandboxRefundFailRequest {
    /// `rejected` (the default) or `wallet_closed`.
    pub reason: Option<String>,
}

async fn settle(state: AppState, who: Principal, id: String, outcome: Result<(), RefundFailure>) -> Response {
    if who.scope.mode == Mode::Live {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "the sandbox control answers test keys only",
            "path",
        )
        .into_response();
    }
    write::run(&state, &who, None, move |tx, ctx| -> Result<Refund, OpError> {
        jobs::settle_refund(tx, &ctx.scope, &id, outcome, ctx.now)?.ok_or_else(|| {
            DomainError::Conflict(FieldError::new(
                codes::PAYIN_INVALID_STATE,
                format!("refund {id} already has its outcome"),
                "status",
            ))
            .into()
        })
    })
    .await
}

#[utoipa::path(
    post, path = "/v3/sandbox/refund/{id}/succeed", tag = "sandbox",
    params(("id" = String, Path, description = "Refund id (`rfd_…`)")),
    responses(
        (status = 200, description = "The refund, now succeeded", body = Envelope<Refund>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund, or a live key", body = ErrorBody),
        (status = 409, description = "The refund already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn sandbox_refund_succeed(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    settle(state, who, id, Ok(())).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/refund/{id}/fail", tag = "sandbox",
    request_body(content = Option<SandboxRefundFailRequest>),
    params(("id" = String, Path, description = "Refund id (`rfd_…`)")),
    responses(
        (status = 200, description = "The refund, now failed", body = Envelope<Refund>),
        (status = 400, description = "Unknown reason", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund, or a live key", body = ErrorBody),
        (status = 409, description = "The refund already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn sandbox_refund_fail(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: SandboxRefundFailRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SandboxRefundFailRequest::default()
    } else {
        match parse_json(&body) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        }
    };
    let reason = match req.reason.as_deref() {
        None => RefundFailure::Rejected,
        Some(r) => match RefundFailure::parse(r) {
            Some(r) => r,
            None => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_FIELD,
                    "reason must be rejected or wallet_closed",
                    "reason",
                )
                .into_response()
            }
        },
    };
    settle(state, who, id, Err(reason)).await
}
