//! Events, their webhook deliveries, and the sandbox control.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kasir_domain::{
    codes, Delivery, DomainError, Event, EventType, FailureReason, FieldError, Mode, Outcome, PaymentAttempt,
};
use kasir_store::jobs;
use kasir_store::ops::{self, OpError};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{parse_json, NoBody};
use crate::error::ErrorBody;
use crate::routes::{Envelope, List};
use crate::write::{self, ok};
use crate::{ApiError, AppState};

fn bad_query(name: &str, why: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY_PARAMETER, format!("{name} {why}"), name)
        .into_response()
}

/// Parses `limit` (1 to 100, default 10).
pub(crate) fn limit_param(q: &HashMap<String, String>) -> Result<usize, Box<Response>> {
    match q.get("limit").map(|s| s.parse::<usize>()) {
        None => Ok(10),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(Box::new(bad_query("limit", "must be an integer from 1 to 100"))),
    }
}

#[utoipa::path(
    get, path = "/v3/event/{id}", tag = "event",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    responses(
        (status = 200, description = "The event; `data` is the object as it was at that change", body = Envelope<Event>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_event(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let scope = who.scope;
    let found = state.store.read(move |tx| {
        tx.event(&scope, &id)?.ok_or_else(|| ApiError::from(DomainError::not_found("event", &id, "id")))
    });
    match found.await {
        Ok(e) => ok(&e),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    get, path = "/v3/event", tag = "event",
    params(
        ("object_id" = Option<String>, Query, description = "Only events about this object (`pay_…`, `pat_…`, `rfd_…`)"),
        ("type" = Option<EventType>, Query, description = "Only events of this type"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "An event id: list the events older than it"),
    ),
    responses(
        (status = 200, description = "Events, newest first", body = Envelope<List<Event>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_events(
    State(state): State<AppState>,
    who: Principal,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else { return bad_query("query", "is not a valid query string") };
    let kind = match q.get("type").map(String::as_str) {
        None | Some("") => None,
        Some(t) => match EventType::parse(t) {
            Some(k) => Some(k),
            None => return bad_query("type", "is not an event type; see the webhook documentation"),
        },
    };
    let limit = match limit_param(&q) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let object = q.get("object_id").filter(|s| !s.is_empty()).cloned();
    let after = q.get("starting_after").filter(|s| !s.is_empty()).cloned();
    let scope = who.scope;
    let page = state
        .store
        .read(move |tx| Ok::<_, ApiError>(tx.list_events(&scope, object.as_deref(), kind, limit, after.as_deref())?))
        .await;
    match page {
        Ok(Some(p)) => ok(&List::new(p.data, p.has_more)),
        Ok(None) => bad_query("starting_after", "is not an event of this account and mode"),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    get, path = "/v3/event/{id}/deliveries", tag = "event",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    responses(
        (status = 200, description = "Every try at delivering the event, oldest first", body = Envelope<List<Delivery>>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_deliveries(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    let scope = who.scope;
    let found = state.store.read(move |tx| {
        if tx.event(&scope, &id)?.is_none() {
            return Err(ApiError::from(DomainError::not_found("event", &id, "id")));
        }
        Ok(tx.deliveries_of(&scope, &id)?)
    });
    match found.await {
        Ok(d) => ok(&List::new(d, false)),
        Err(e) => e.into_response(),
    }
}

/// The webhook URL an event goes to now: its object's (for attempts, their payin's).
fn current_url(tx: &mut dyn kasir_store::Tx, scope: &kasir_store::Scope, event: &Event) -> Result<String, OpError> {
    let id = event.object_id();
    let id = id.as_str();
    let payin_id = if id.starts_with("pat_") {
        ops::load_attempt(tx, scope, id)?.payin
    } else if id.starts_with("rfd_") {
        let refund = tx.refund(scope, id)?.ok_or_else(|| DomainError::not_found("refund", id, "id"))?;
        if !refund.webhook_url.is_empty() {
            return Ok(refund.webhook_url);
        }
        refund.payin
    } else {
        id.to_string()
    };
    Ok(ops::load_payin(tx, scope, &payin_id)?.webhook_url)
}

#[utoipa::path(
    post, path = "/v3/event/{id}/resend", tag = "event",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    responses(
        (status = 200, description = "The event, queued for delivery to its object's current webhook_url", body = Envelope<Event>),
        (status = 400, description = "The object has no webhook_url", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn resend_event(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: NoBody,
) -> Response {
    write::run(&state, &who, body.idem, move |tx, ctx| {
        let event = tx.event(&ctx.scope, &id)?.ok_or_else(|| DomainError::not_found("event", &id, "id"))?;
        let url = current_url(tx, &ctx.scope, &event)?;
        if url.is_empty() {
            return Err(DomainError::invalid(FieldError::new(
                codes::INVALID_FIELD,
                format!("{} has no webhook_url to send to; set one, then resend", event.object_id()),
                "webhook_url",
            ))
            .into());
        }
        jobs::enqueue_delivery(tx, &event.id, &url, ctx.now)?;
        Ok(event)
    })
    .await
}

/// `POST /v3/sandbox/payment_attempt/{id}/fail`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SandboxFailRequest {
    /// `not_registered`, `declined` (the default), `push_not_delivered`, `insufficient_balance` or `expired`.
    pub reason: Option<String>,
}

async fn sandbox_settle(state: AppState, who: Principal, id: String, outcome: Outcome) -> Response {
    if who.scope.mode == Mode::Live {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "the sandbox control answers test keys only",
            "path",
        )
        .into_response();
    }
    write::run(&state, &who, None, move |tx, ctx| -> Result<PaymentAttempt, OpError> {
        match jobs::settle_attempt(tx, &ctx.scope, &id, outcome, ctx.now)? {
            Some(a) => Ok(a),
            None => Err(DomainError::Conflict(FieldError::new(
                codes::PAYIN_INVALID_STATE,
                format!("payment attempt {id} already has its outcome"),
                "status",
            ))
            .into()),
        }
    })
    .await
}

#[utoipa::path(
    post, path = "/v3/sandbox/payment_attempt/{id}/succeed", tag = "sandbox",
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The attempt, now succeeded (and its payin too)", body = Envelope<PaymentAttempt>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt, or a live key", body = ErrorBody),
        (status = 409, description = "The attempt already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn sandbox_succeed(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Response {
    sandbox_settle(state, who, id, Outcome::Succeeded).await
}

#[utoipa::path(
    post, path = "/v3/sandbox/payment_attempt/{id}/fail", tag = "sandbox",
    request_body(content = Option<SandboxFailRequest>),
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The attempt, now failed; its payin is back to requires_payment_method", body = Envelope<PaymentAttempt>),
        (status = 400, description = "Unknown reason", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt, or a live key", body = ErrorBody),
        (status = 409, description = "The attempt already has its outcome", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn sandbox_fail(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: SandboxFailRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SandboxFailRequest::default()
    } else {
        match parse_json(&body) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        }
    };
    let reason =
        match req.reason.as_deref() {
            None => FailureReason::Declined,
            Some(r) => match FailureReason::parse(r).filter(|r| *r != FailureReason::Cancelled) {
                Some(r) => r,
                None => return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_FIELD,
                    "reason must be one of not_registered, declined, push_not_delivered, insufficient_balance, expired",
                    "reason",
                )
                .into_response(),
            },
        };
    sandbox_settle(state, who, id, Outcome::Failed(reason)).await
}
