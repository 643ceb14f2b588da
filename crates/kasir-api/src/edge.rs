//! What every request passes through before and after its route: a body declared too large is refused
//! before it is read, and any error answer a route or the framework made outside the envelope (a
//! rejection of a request that never reached a handler) is put into it, so every error, from every
//! route, is the Tazapay envelope.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kasir_domain::codes;

use crate::body::too_large;
use crate::ApiError;

pub async fn edge(req: Request, next: Next) -> Response {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > crate::MAX_BODY_BYTES as u64) {
        return too_large().into_response();
    }
    into_envelope(next.run(req).await)
}

/// An error answer not already in the envelope, in it; any other answer as it is.
fn into_envelope(res: Response) -> Response {
    let status = res.status();
    let is_json =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
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
