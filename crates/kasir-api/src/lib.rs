//! Kasir's HTTP surface, and only that: the Tazapay v3 routes (`v3/`, one file per resource with its
//! request types), authentication, the error envelope and its codes' statuses, idempotency, the list
//! query, and the OpenAPI document generated from the handlers themselves. Every state change is a use
//! case of `kasir-app`.

mod auth;
mod body;
pub mod dashboard;
mod edge;
pub mod envelope;
pub mod error;
mod fields;
mod idempotent;
pub mod limits;
pub mod observe;
mod openapi;
pub mod pages;
mod path;
mod query;
pub mod server;
pub mod v3;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kasir_app::App;
use kasir_domain::codes;
use kasir_store::{StoreError, Tx};

pub use auth::{KeyCache, Principal};
pub use edge::Api;
pub use error::ApiError;
pub use openapi::{api_routes, openapi};

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
    /// Set when the server stops taking connections: streams end at once rather than hold up shutdown.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(app: App, observe: observe::Observability, limits: &limits::LimitConfig) -> Self {
        AppState(Arc::new(Shared {
            app,
            keys: KeyCache::default(),
            observe,
            limits: limits::Limits::new(limits),
            closing: tokio::sync::watch::Sender::new(false),
        }))
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

/// The whole application: the routes, and the edge every request passes on its way to them.
pub fn api(state: AppState) -> Api {
    let (api, doc) = api_routes();
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let router = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics))
        .merge(pages::routes())
        .merge(dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Api { router: router.with_state(state.clone()), state }
}

pub use server::{serve, ServerConfig};
