//! What every request passes through, once, around the router: its id (echoed in `x-request-id`, and
//! on every log line it causes), a body declared too large refused before it is read, any error answer
//! made outside the envelope (a rejection of a request that never reached a handler) put into it, so
//! every error from every route is the Tazapay envelope, and its metrics.
//!
//! It is a plain future wrapping the router's rather than a middleware layer: a layer on the router is
//! cloned, boxed and re-boxed for every request on every route, which cost a GET more than its handler.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::Router;
use kasir_domain::codes;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;

use crate::body::too_large;
use crate::observe::{choose_id, method_name, REQUEST_ID, REQUEST_ID_HEADER};
use crate::{ApiError, AppState};

/// The router and the state the edge keeps its metrics in: what a connection serves.
#[derive(Clone)]
pub struct Api {
    pub(crate) router: Router,
    pub(crate) state: AppState,
}

impl Api {
    /// Answers `req`.
    pub fn answer(&self, req: Request<hyper::body::Incoming>) -> Answer {
        let started = Instant::now();
        let id = choose_id(req.headers());
        let route = self.state.observe.route(req.uri().path());
        let method = method_name(req.method());
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        // A page's path is its token, the page's only key: such paths are logged as their route.
        let debug_path = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            let path = req.uri().path();
            if crate::pages::is_page(path) {
                route.to_string()
            } else {
                path.to_string()
            }
        });
        let (inner, refused) = if declared.is_some_and(|n| n > crate::MAX_BODY_BYTES as u64) {
            (None, Some(too_large().into_response()))
        } else {
            let req = req.map(Body::new);
            (Some(REQUEST_ID.scope(id.clone(), self.router.clone().call(req))), None)
        };
        Answer { inner, refused, id, route, method, started, debug_path, state: self.state.clone() }
    }
}

pin_project_lite::pin_project! {
    /// A request being answered.
    pub struct Answer {
        #[pin]
        inner: Option<TaskLocalFuture<HeaderValue, RouteFuture<Infallible>>>,
        refused: Option<Response>,
        id: HeaderValue,
        route: &'static str,
        method: &'static str,
        started: Instant,
        debug_path: Option<String>,
        state: AppState,
    }
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match (this.refused.take(), this.inner.as_pin_mut()) {
            (Some(res), _) => res,
            (None, Some(inner)) => match ready!(inner.poll(cx)) {
                Ok(res) => into_envelope(res),
                Err(never) => match never {},
            },
            (None, None) => unreachable!("an answer is polled after it is given"),
        };
        let took = this.started.elapsed();
        if let Some(path) = this.debug_path.take() {
            let (method, status, micros) = (*this.method, res.status().as_u16(), took.as_micros() as u64);
            REQUEST_ID.sync_scope(this.id.clone(), || tracing::debug!(method, path, status, micros, "request"));
        }
        this.state.observe.answered(this.route, this.method, res.status().as_u16(), took);
        let mut res = res;
        res.headers_mut().insert(REQUEST_ID_HEADER, this.id.clone());
        Poll::Ready(Ok(res))
    }
}

/// An error answer not already in the envelope (or a page), in it; any other answer as it is.
fn into_envelope(res: Response) -> Response {
    let status = res.status();
    let own_form = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || own_form {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (codes::NOT_FOUND, "no such route; see /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (codes::METHOD_NOT_ALLOWED, "method not allowed on this route"),
        StatusCode::PAYLOAD_TOO_LARGE => return too_large().into_response(),
        StatusCode::TOO_MANY_REQUESTS => (codes::RATE_LIMITED, "too many requests"),
        s if s.is_server_error() => (codes::INTERNAL, "internal error; it has been logged"),
        _ => (codes::BAD_JSON, "the request could not be read"),
    };
    let mut e = ApiError::new(status, code, message, "");
    if let Some(v) = res.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse().ok()) {
        e.retry_after = Some(v);
    }
    e.into_response()
}
