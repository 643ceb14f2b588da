//! `/v3/webhook_endpoint`: the account's webhook endpoints, where its events go besides each object's
//! own `webhook_url`.

use axum::extract::State;
use axum::response::Response;
use kasir_app::endpoints::{self, EndpointFields};
use kasir_domain::{EndpointStatus, FieldError, Mode, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{JsonBody, NoBody};
use crate::envelope::{ok, Envelope, List};
use crate::error::{found, ErrorBody};
use crate::fields::Check;
use crate::path::PathId;
use crate::{idempotent, ApiError, AppState};

/// `POST /v3/webhook_endpoint` and `PUT /v3/webhook_endpoint/{id}`: on PUT, each field given replaces
/// the endpoint's.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// Where events are sent: https with a live key (http is allowed in test mode). Required on POST.
    #[schema(example = "https://shop.example/kasir/webhooks")]
    pub url: Option<String>,
    /// Event types (`payin.succeeded`, …), or `["*"]` for all. Required on POST.
    #[schema(example = json!(["payin.succeeded", "refund.succeeded"]))]
    pub enabled_events: Option<Vec<String>>,
    /// `enabled` (the default) or `disabled`.
    pub status: Option<String>,
}

impl EndpointRequest {
    fn parse(self, mode: Mode) -> Result<EndpointFields, ApiError> {
        let mut c = Check::new(mode);
        let url = match self.url {
            Some(u) if u.trim().is_empty() => {
                c.push(FieldError::invalid("url", "must not be empty"));
                None
            }
            u => c.url(u, "url", true),
        };
        let status = match self.status.as_deref() {
            None => None,
            Some(s) => {
                let parsed = EndpointStatus::parse(s);
                if parsed.is_none() {
                    c.push(FieldError::invalid("status", "must be \"enabled\" or \"disabled\""));
                }
                parsed
            }
        };
        c.finish(EndpointFields { url, enabled_events: self.enabled_events, status })
    }
}

/// What `DELETE` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedEndpoint {
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: String,
    /// Always `true`.
    pub deleted: bool,
}

#[utoipa::path(
    post, path = "/v3/webhook_endpoint", tag = "webhook_endpoint",
    request_body = EndpointRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The endpoint", body = Envelope<WebhookEndpoint>),
        (status = 400, description = "Invalid request (1001, 1002; 1002 also when the account has 16 endpoints in this mode)", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<EndpointRequest>,
) -> Result<Response, ApiError> {
    let fields = body.value.parse(who.scope.mode)?;
    let actor = who.access_key.clone();
    idempotent::run(&state, &who, body.idem, move |tx, ctx| endpoints::create(tx, ctx, fields.clone(), &actor)).await
}

#[utoipa::path(
    get, path = "/v3/webhook_endpoint", tag = "webhook_endpoint",
    responses(
        (status = 200, description = "Every endpoint of the account in this mode, oldest first (at most 16)", body = Envelope<List<WebhookEndpoint>>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_endpoints(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    let scope = who.scope;
    let all = state.read(move |tx| tx.endpoints(&scope)).await?;
    Ok(ok(&List::new(all, false)))
}

#[utoipa::path(
    get, path = "/v3/webhook_endpoint/{id}", tag = "webhook_endpoint",
    params(("id" = String, Path, description = "Endpoint id (`whe_…`)")),
    responses(
        (status = 200, description = "The endpoint", body = Envelope<WebhookEndpoint>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (scope, key) = (who.scope, id.clone());
    Ok(ok(&found(state.read(move |tx| tx.endpoint(&scope, &key)).await?, "webhook_endpoint", &id)?))
}

#[utoipa::path(
    put, path = "/v3/webhook_endpoint/{id}", tag = "webhook_endpoint",
    request_body = EndpointRequest,
    params(("id" = String, Path, description = "Endpoint id (`whe_…`)")),
    responses(
        (status = 200, description = "The changed endpoint", body = Envelope<WebhookEndpoint>),
        (status = 400, description = "Invalid request (1002)", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_endpoint(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: JsonBody<EndpointRequest>,
) -> Result<Response, ApiError> {
    let fields = body.value.parse(who.scope.mode)?;
    let actor = who.access_key.clone();
    idempotent::run(&state, &who, None, move |tx, ctx| endpoints::update(tx, ctx, &id, fields.clone(), &actor)).await
}

#[utoipa::path(
    delete, path = "/v3/webhook_endpoint/{id}", tag = "webhook_endpoint",
    params(("id" = String, Path, description = "Endpoint id (`whe_…`)")),
    responses(
        (status = 200, description = "Deleted; deliveries already scheduled to it still go out", body = Envelope<DeletedEndpoint>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    _body: NoBody,
) -> Result<Response, ApiError> {
    let actor = who.access_key.clone();
    idempotent::run(&state, &who, None, move |tx, ctx| {
        endpoints::delete(tx, ctx, &id, &actor).map(|e| DeletedEndpoint {
            id: e.id,
            object: "webhook_endpoint".into(),
            deleted: true,
        })
    })
    .await
}
