//! The v3 handlers. Each one parses its request, then hands a whole state change to the store.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kasir_domain::{codes, Customer, Payin, PayinStatus, PaymentAttempt};
use kasir_store::ops;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{JsonBody, NoBody};
use crate::dto::{
    ConfirmPayinRequest, CreateCustomerRequest, CreatePayinRequest, UpdateAttemptRequest, UpdatePayinRequest,
};
use crate::error::ErrorBody;
use crate::write::{self, ok};
use crate::{ApiError, AppState};

/// The success envelope, as documented.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Envelope<T: ToSchema> {
    /// Always `success`.
    status: String,
    /// Always empty.
    message: String,
    data: T,
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    object: &'static str,
    data: Vec<T>,
    /// Whether older objects follow; pass the last id as `starting_after` to fetch them.
    has_more: bool,
}

impl<T: ToSchema> List<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        List { object: "list", data, has_more }
    }
}

fn into<T>(r: Result<T, ApiError>) -> Response
where
    T: IntoResponse,
{
    match r {
        Ok(v) => v.into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    post, path = "/v3/payin", tag = "payin",
    request_body = CreatePayinRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The new payin (confirmed too when `confirm` is true)", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "A referenced customer does not exist", body = ErrorBody),
        (status = 409, description = "Idempotency-Key still in use", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used with another body", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_payin(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreatePayinRequest>,
) -> Response {
    let req = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, body.idem, move |tx, ctx| ops::create_payin(tx, ctx, req.clone())).await
}

#[utoipa::path(
    post, path = "/v3/payin/{id}/confirm", tag = "payin",
    request_body = ConfirmPayinRequest,
    params(("id" = String, Path, description = "Payin id (`pay_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The payin, now `requires_action`", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin or customer", body = ErrorBody),
        (status = 409, description = "The payin cannot be confirmed in its state", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used with another body", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn confirm_payin(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: JsonBody<ConfirmPayinRequest>,
) -> Response {
    let req = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, body.idem, move |tx, ctx| ops::confirm_payin(tx, ctx, &id, req.clone())).await
}

#[utoipa::path(
    get, path = "/v3/payin/{id}", tag = "payin",
    params(("id" = String, Path, description = "Payin id (`pay_…`)")),
    responses(
        (status = 200, description = "The payin", body = Envelope<Payin>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_payin(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let found = match state.store.payin_json(&who.scope, &id).await {
        Ok(Some(raw)) => Ok(raw),
        Ok(None) => Err(ApiError::from(kasir_domain::DomainError::not_found("payin", &id, "id"))),
        Err(e) => Err(ApiError::from(e)),
    };
    // The stored document is the wire object: wrap it, without decoding and encoding it again.
    into(found.map(|raw| {
        let mut body = Vec::with_capacity(raw.len() + 48);
        body.extend_from_slice(br#"{"status":"success","message":"","data":"#);
        body.extend_from_slice(raw.as_bytes());
        body.push(b'}');
        crate::write::json_response(StatusCode::OK, body)
    }))
}

#[utoipa::path(
    put, path = "/v3/payin/{id}", tag = "payin",
    request_body = UpdatePayinRequest,
    params(("id" = String, Path, description = "Payin id (`pay_…`)")),
    responses(
        (status = 200, description = "The updated payin", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
        (status = 409, description = "The payin is final; only metadata and reference_id change", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_payin(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: JsonBody<UpdatePayinRequest>,
) -> Response {
    let fields = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, None, move |tx, ctx| ops::update_payin(tx, ctx, &id, fields.clone())).await
}

#[utoipa::path(
    post, path = "/v3/payin/{id}/cancel", tag = "payin",
    params(("id" = String, Path, description = "Payin id (`pay_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The cancelled payin", body = Envelope<Payin>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
        (status = 409, description = "The payin is no longer active (19626) or cannot be cancelled now (19627)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn cancel_payin(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: NoBody,
) -> Response {
    write::run(&state, &who, body.idem, move |tx, ctx| ops::cancel_payin(tx, ctx, &id)).await
}

#[utoipa::path(
    get, path = "/v3/payin", tag = "payin",
    params(
        ("status" = Option<PayinStatus>, Query, description = "Only payins in this status"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "A payin id: list the payins older than it"),
    ),
    responses(
        (status = 200, description = "Payins, newest first", body = Envelope<List<Payin>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_payins(
    State(state): State<AppState>,
    who: Principal,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let bad = |name: &str, why: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY_PARAMETER, format!("{name} {why}"), name)
            .into_response()
    };
    let Ok(Query(q)) = query else {
        return bad("query", "is not a valid query string");
    };
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => match PayinStatus::parse(s) {
            Some(st) => Some(st),
            None => {
                return bad(
                    "status",
                    "must be one of requires_payment_method, requires_action, processing, succeeded, cancelled",
                )
            }
        },
    };
    let limit = match crate::events::limit_param(&q) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let after = q.get("starting_after").filter(|s| !s.is_empty()).cloned();
    let scope = who.scope;
    let page =
        state.store.read(move |tx| Ok::<_, ApiError>(tx.list_payins(&scope, status, limit, after.as_deref())?)).await;
    match page {
        Ok(Some(p)) => ok(&List::new(p.data, p.has_more)),
        Ok(None) => bad("starting_after", "is not a payin of this account and mode"),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    get, path = "/v3/payment_attempt/{id}", tag = "payment_attempt",
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The attempt", body = Envelope<PaymentAttempt>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_attempt(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let scope = who.scope;
    into(state.store.read(move |tx| Ok::<_, ApiError>(ops::load_attempt(tx, &scope, &id)?)).await.map(|a| ok(&a)))
}

#[utoipa::path(
    put, path = "/v3/payment_attempt/{id}", tag = "payment_attempt",
    request_body = UpdateAttemptRequest,
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The updated attempt", body = Envelope<PaymentAttempt>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_attempt(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: JsonBody<UpdateAttemptRequest>,
) -> Response {
    let metadata = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, None, move |tx, ctx| ops::update_attempt_metadata(tx, ctx, &id, metadata.clone())).await
}

#[utoipa::path(
    post, path = "/v3/customer", tag = "customer",
    request_body = CreateCustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The new customer", body = Envelope<Customer>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_customer(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreateCustomerRequest>,
) -> Response {
    let req = match body.value.parse(who.scope.mode) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    write::run(&state, &who, body.idem, move |tx, ctx| {
        ops::create_customer(tx, ctx, req.details.clone(), req.reference_id.clone(), req.metadata.clone())
    })
    .await
}

#[utoipa::path(
    get, path = "/v3/customer/{id}", tag = "customer",
    params(("id" = String, Path, description = "Customer id (`cus_…`)")),
    responses(
        (status = 200, description = "The customer", body = Envelope<Customer>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_customer(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let scope = who.scope;
    let found = state.store.read(move |tx| {
        let c = tx.customer(&scope, &id)?;
        c.ok_or_else(|| ApiError::from(kasir_domain::DomainError::not_found("customer", &id, "id")))
    });
    into(found.await.map(|c| ok(&c)))
}
