//! The id in a path (`/v3/payin/{id}`), taken as text: a path that does not decode to text answers in
//! the envelope, like every other error.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use kasir_domain::codes;

use crate::ApiError;

/// An object id from the path.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PathId(id)),
            Err(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_PATH_PARAMETER,
                "id in the path must be text (percent-encoded UTF-8)",
                "id",
            )),
        }
    }
}
