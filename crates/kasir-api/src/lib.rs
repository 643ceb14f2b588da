//! Kasir's HTTP surface, and only that: the Tazapay v3 routes (`v3/`, one file per resource with its
//! request types), authentication, the error envelope and its codes' statuses, idempotency, the list
//! query, and the OpenAPI document generated from the handlers themselves. Every state change is a use
//! case of `kasir-app`.

mod auth;
mod body;
mod edge;
pub mod envelope;
pub mod error;
mod fields;
mod idempotent;
pub mod limits;
pub mod observe;
mod path;
mod query;
pub mod server;
pub mod v3;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kasir_app::App;
use kasir_domain::codes;
use kasir_store::{StoreError, Tx};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{KeyCache, Principal};
pub use error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler shares, behind one reference count (each request clones it).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub app: App,
    pub keys: KeyCache,
    pub observe: observe::Observability,
    pub limits: limits::Limits,
}

impl AppState {
    pub fn new(app: App, observe: observe::Observability, limits: &limits::LimitConfig) -> Self {
        AppState(Arc::new(Shared { app, keys: KeyCache::default(), observe, limits: limits::Limits::new(limits) }))
    }

    /// Runs `op` on a read-only snapshot.
    pub(crate) async fn read<T, E, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: From<StoreError> + Into<ApiError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.app.store.read(op).await.map_err(Into::into)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kasir",
        description = "A payin gateway for OVO that speaks the Tazapay v3 API. Amounts are integers in minor units (IDR 100,000.00 is 10000000).",
    ),
    modifiers(&BasicAuth),
    tags(
        (name = "payin", description = "Collect a payment"),
        (name = "payment_attempt", description = "One push to the customer's wallet"),
        (name = "customer", description = "The people who pay"),
        (name = "refund", description = "Money back to the customer's wallet"),
        (name = "event", description = "What happened, and its webhook deliveries"),
        (name = "sandbox", description = "Test keys only: resolve a pending attempt now"),
    )
)]
struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// The v3 routes and the OpenAPI document that describes exactly them.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use v3::{attempts, customers, events, payins, refunds, sandbox};
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(payins::create_payin, payins::list_payins))
        .routes(routes!(payins::get_payin, payins::update_payin))
        .routes(routes!(payins::confirm_payin))
        .routes(routes!(payins::cancel_payin))
        .routes(routes!(attempts::get_attempt, attempts::update_attempt))
        .routes(routes!(customers::create_customer))
        .routes(routes!(customers::get_customer))
        .routes(routes!(events::list_events))
        .routes(routes!(events::get_event))
        .routes(routes!(events::list_deliveries))
        .routes(routes!(events::resend_event))
        .routes(routes!(sandbox::succeed_attempt))
        .routes(routes!(sandbox::fail_attempt))
        .routes(routes!(refunds::create_refund, refunds::list_refunds))
        .routes(routes!(refunds::get_refund))
        .routes(routes!(sandbox::succeed_refund))
        .routes(routes!(sandbox::fail_refund))
        .split_for_parts()
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such route; see /openapi.json", "path").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
        "method",
    )
    .into_response()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_routes();
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    api.route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
        }),
    )
    .route("/healthz", get(|| async { "ok" }))
    .route("/readyz", get(observe::readyz))
    .route("/metrics", get(observe::metrics))
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(axum::middleware::from_fn(edge::edge))
    .layer(axum::middleware::from_fn_with_state(state.clone(), observe::observe))
    .with_state(state)
}

pub use server::{serve, ServerConfig};
