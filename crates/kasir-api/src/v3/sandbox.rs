//! `/v3/sandbox`: test keys resolve a pending attempt or refund now, instead of waiting for the
//! sandbox's timer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kasir_app::sandbox::{self, Resolve};
use kasir_domain::{codes, FailureReason, Outcome, PaymentAttempt, Refund, RefundFailure};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{IdemRequest, NoBody, OptionalJson};
use crate::envelope::Envelope;
use crate::error::ErrorBody;
use crate::path::PathId;
use crate::{idempotent, ApiError, AppState};

/// `POST /v3/sandbox/payment_attempt/{id}/fail`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SandboxFailRequest {
    /// Why it fails; `declined` when left out.
    #[schema(schema_with = attempt_reasons)]
    pub reason: Option<String>,
}

/// `POST /v3/sandbox/refund/{id}/fail`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SandboxRefundFailRequest {
    /// Why it fails; `rejected` when left out.
    #[schema(schema_with = refund_reasons)]
    pub reason: Option<String>,
}

/// The reasons an attempt can be failed with: every failure but a cancel.
fn attempt_failures() -> impl Iterator<Item = FailureReason> {
    FailureReason::ALL.into_iter().filter(|r| *r != FailureReason::Cancelled)
}

fn reasons_schema(names: Vec<&'static str>) -> utoipa::openapi::Object {
    let mut values: Vec<serde_json::Value> = names.into_iter().map(Into::into).collect();
    values.push(serde_json::Value::Null);
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ]))
        .enum_values(Some(values))
        .build()
}

fn attempt_reasons() -> utoipa::openapi::Object {
    reasons_schema(attempt_failures().map(FailureReason::as_str).collect())
}

fn refund_reasons() -> utoipa::openapi::Object {
    reasons_schema(RefundFailure::ALL.iter().map(|r| r.as_str()).collect())
}

/// The `reason` of a fail control's optional body: `default` when absent, `parse`d otherwise.
fn reason<T>(
    body: Option<SandboxFailRequest>,
    default: T,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, ApiError> {
    match body.unwrap_or_default().reason.as_deref() {
        None => Ok(default),
        Some(r) => parse(r).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_FIELD, format!("reason must be {allowed}"), "reason")
        }),
    }
}

async fn control(
    state: AppState,
    who: Principal,
    id: String,
    idem: Option<IdemRequest>,
    what: Resolve,
) -> Result<Response, ApiError> {
    idempotent::run(&state, &who, idem, move |tx, ctx| sandbox::resolve(tx, ctx, &id, what)).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/payment_attempt/{id}/succeed", tag = "sandbox",
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The attempt, now succeeded (and its payin too)", body = Envelope<PaymentAttempt>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt, or a live key", body = ErrorBody),
        (status = 409, description = "The attempt already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn succeed_attempt(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: NoBody,
) -> Result<Response, ApiError> {
    control(state, who, id, body.idem, Resolve::Attempt(Outcome::Succeeded)).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/payment_attempt/{id}/fail", tag = "sandbox",
    request_body(content = Option<SandboxFailRequest>),
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The attempt, now failed; its payin is back to requires_payment_method", body = Envelope<PaymentAttempt>),
        (status = 400, description = "Unknown reason", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt, or a live key", body = ErrorBody),
        (status = 409, description = "The attempt already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn fail_attempt(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: OptionalJson<SandboxFailRequest>,
) -> Result<Response, ApiError> {
    let names: Vec<_> = attempt_failures().map(FailureReason::as_str).collect();
    let allowed = format!("one of {}", names.join(", "));
    let parse = |r: &str| FailureReason::parse(r).filter(|r| *r != FailureReason::Cancelled);
    let why = reason(body.value, FailureReason::Declined, parse, &allowed)?;
    control(state, who, id, body.idem, Resolve::Attempt(Outcome::Failed(why))).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/refund/{id}/succeed", tag = "sandbox",
    params(("id" = String, Path, description = "Refund id (`rfd_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The refund, now succeeded", body = Envelope<Refund>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund, or a live key", body = ErrorBody),
        (status = 409, description = "The refund already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn succeed_refund(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: NoBody,
) -> Result<Response, ApiError> {
    control(state, who, id, body.idem, Resolve::Refund(Ok(()))).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/refund/{id}/fail", tag = "sandbox",
    request_body(content = Option<SandboxRefundFailRequest>),
    params(("id" = String, Path, description = "Refund id (`rfd_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The refund, now failed", body = Envelope<Refund>),
        (status = 400, description = "Unknown reason", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund, or a live key", body = ErrorBody),
        (status = 409, description = "The refund already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn fail_refund(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: OptionalJson<SandboxFailRequest>,
) -> Result<Response, ApiError> {
    let why = reason(body.value, RefundFailure::Rejected, RefundFailure::parse, "rejected or wallet_closed")?;
    control(state, who, id, body.idem, Resolve::Refund(Err(why))).await
}
