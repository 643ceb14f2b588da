//! The one place failures become HTTP answers: the Tazapay error envelope with its codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kasir_domain::{codes, DomainError, FieldError};
use kasir_store::ops::OpError;
use kasir_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"status":"error","message":…,"errors":[{"code":…,"message":…,"remarks":…}]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `error`.
    pub status: String,
    pub message: String,
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    pub code: u32,
    pub message: String,
    /// The offending field's JSON path, or the header or parameter at fault.
    pub remarks: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<FieldError>,
    /// Set for 429 and 503 answers.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>, remarks: impl Into<String>) -> Self {
        ApiError { status, errors: vec![FieldError::new(code, message, remarks)], retry_after: None }
    }

    pub fn bad_json(message: impl Into<String>, remarks: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_JSON, message, remarks)
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, errors, retry_after: None }
    }

    pub fn internal() -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, "internal error; it has been logged", "")
    }

    pub fn unavailable() -> Self {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "the database is unavailable; retry shortly with the same Idempotency-Key",
            "",
        );
        e.retry_after = Some(1);
        e
    }

    fn summary(&self) -> String {
        match self.errors.as_slice() {
            [one] => one.message.clone(),
            many => format!("{} problems with the request", many.len()),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(errors) => ApiError::invalid(errors),
            DomainError::NotFound { code, message, remarks } => {
                ApiError::new(StatusCode::NOT_FOUND, code, message, remarks)
            }
            DomainError::Conflict(f) => ApiError { status: StatusCode::CONFLICT, errors: vec![f], retry_after: None },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %e, "store unavailable");
            ApiError::unavailable()
        } else {
            tracing::error!(error = %e, "store error");
            ApiError::internal()
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Domain(d) => d.into(),
            OpError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "error".into(),
            message: self.summary(),
            errors: self
                .errors
                .into_iter()
                .map(|f| ErrorItem { code: f.code, message: f.message, remarks: f.remarks })
                .collect(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, bytes).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
