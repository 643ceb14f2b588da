//! `/v3/event`: what happened, each event's webhook deliveries, and sending one again.

use std::collections::VecDeque;

use futures::StreamExt as _;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use kasir_app::outbox;
use kasir_domain::codes;
use kasir_domain::{Delivery, Event, EventType};
use kasir_store::{EventFilter, Scope, StreamCursor, StreamStart, StreamedEvent};

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

/// How often a stream looks for new events.
const STREAM_POLL: Duration = Duration::from_millis(250);
/// How often an idle stream sends a comment, so that proxies and Kasir's own idle timeout keep it open.
pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);

#[utoipa::path(
    get, path = "/v3/event/stream", tag = "event",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (`evt_…`), or from the start a stream's first `id:` named (`pos_…`); without it the stream starts from now")),
    responses(
        (status = 200, description = "Server-sent events: each the account's next event as it is committed (`id:` its id, `event:` its type, `data:` the webhook body), in one order every reader sees; a comment every 15 s", content_type = "text/event-stream", body = String),
        (status = 400, description = "Last-Event-ID names no event of this account and mode (1002)", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 429, description = "This API key holds 8 streams open on this process already (110); Retry-After", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn stream_events(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.limits.open_stream(&who.access_key)?;
    let slot = StreamSlot { state: state.clone(), access_key: who.access_key.clone() };
    let scope = who.scope;
    let resume = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("").trim().to_string());
    let start = match resume.as_deref() {
        None => Some(state.read(|tx| tx.stream_start()).await?),
        Some(token) if token.starts_with("pos_") => StreamStart::parse(token),
        Some(id) => resume_after(&state, &scope, id).await?,
    };
    let Some(start) = start else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_FIELD,
            format!("Last-Event-ID {:?} names no event of this account and mode", resume.unwrap_or_default()),
            "Last-Event-ID",
        ));
    };
    // The first frame is the start itself (an `id:`, no data): a client that reconnects before any
    // event resumes from exactly here.
    let first = SseEvent::default().id(start.token()).comment("start");
    let reader = Reader {
        closing: state.closing.subscribe(),
        state,
        scope,
        cursor: start.cursor,
        start,
        ready: VecDeque::new(),
        _slot: slot,
    };
    let events = futures::stream::once(async move { Ok(first) }).chain(futures::stream::unfold(reader, Reader::next));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(STREAM_HEARTBEAT).text("heartbeat")).into_response())
}

/// Where a stream resumed after event `id` starts; `None` when the scope has no such event. An event
/// the stream has not passed yet (PostgreSQL: a transaction before it still running) is waited for
/// briefly, so that nothing before it is skipped; 503 when it takes longer.
async fn resume_after(state: &AppState, scope: &Scope, id: &str) -> Result<Option<StreamStart>, ApiError> {
    for _ in 0..20 {
        let (s, key) = (scope.clone(), id.to_string());
        let found = state
            .read(move |tx| Ok::<_, kasir_store::StoreError>((tx.stream_position(&s, &key)?, tx.stream_horizon()?)))
            .await?;
        match found {
            (None, _) => return Ok(None),
            (Some(cursor), horizon) if cursor.tx < horizon => {
                return Ok(Some(StreamStart { cursor, xmax: 0, running: Vec::new() }))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Err(ApiError::unavailable())
}

/// One stream's place: where it is, what it has read and not yet sent, and whether the server is closing.
struct Reader {
    state: AppState,
    scope: Scope,
    cursor: StreamCursor,
    /// Where it started: the events committed before then are left out.
    start: StreamStart,
    ready: VecDeque<StreamedEvent>,
    closing: tokio::sync::watch::Receiver<bool>,
    _slot: StreamSlot,
}

/// A stream's place among its key's open streams, given back when the stream is dropped.
struct StreamSlot {
    state: AppState,
    access_key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.state.limits.close_stream(&self.access_key);
    }
}

impl Reader {
    /// The next event, once there is one; `None` (the stream ends) when the server is closing.
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Reader)> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some((Ok(SseEvent::default().id(e.id).event(e.kind).data(e.data)), self));
            }
            if *self.closing.borrow() {
                return None;
            }
            let (scope, cursor) = (self.scope.clone(), self.cursor);
            match self.state.app.store.read(move |tx| tx.stream_after(&scope, cursor, 100)).await {
                Ok(found) if !found.is_empty() => {
                    self.cursor = found.last().map(|e| e.at).unwrap_or(cursor);
                    let start = &self.start;
                    self.ready.extend(found.into_iter().filter(|e| !start.before(e.at)));
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "an event stream could not read; it tries again"),
            }
            tokio::select! {
                _ = tokio::time::sleep(STREAM_POLL) => {}
                changed = self.closing.changed() => if changed.is_err() || *self.closing.borrow() { return None },
            }
        }
    }
}
