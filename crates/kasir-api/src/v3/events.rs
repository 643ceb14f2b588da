//! `/v3/event`: what happened, each event's webhook deliveries, and sending one again.

use axum::extract::State;
use axum::response::Response;
use kasir_app::outbox;
use kasir_domain::{Delivery, Event, EventType};
use kasir_store::EventFilter;

use crate::auth::Principal;
use crate::body::NoBody;
use crate::envelope::{ok, Envelope, List};
use crate::error::{found, ErrorBody};
use crate::path::PathId;
use crate::query::{page_answer, ListQuery};
use crate::{idempotent, ApiError, AppState};

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
pub async fn get_event(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (scope, key) = (who.scope, id.clone());
    Ok(ok(&found(state.read(move |tx| tx.event(&scope, &key)).await?, "event", &id)?))
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
pub async fn list_events(State(state): State<AppState>, who: Principal, q: ListQuery) -> Result<Response, ApiError> {
    let kind = q.one_of("type", EventType::parse, "is not an event type; see the webhook documentation")?;
    let page = q.page()?;
    let object = q.text("object_id");
    let scope = who.scope;
    let listed = state.read(move |tx| {
        let filter = EventFilter { object_id: object.as_deref(), kind };
        tx.list_events(&scope, &filter, &page)
    });
    page_answer(listed.await?, "event")
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
pub async fn list_deliveries(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (scope, key) = (who.scope, id.clone());
    let tries = state.read(move |tx| match tx.event(&scope, &key)? {
        Some(_) => tx.deliveries_of(&scope, &key).map(Some),
        None => Ok(None),
    });
    Ok(ok(&List::new(found(tries.await?, "event", &id)?, false)))
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
    PathId(id): PathId,
    body: NoBody,
) -> Result<Response, ApiError> {
    idempotent::run(&state, &who, body.idem, move |tx, ctx| outbox::resend(tx, &ctx.scope, &id, ctx.now)).await
}
