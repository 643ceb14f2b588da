//! The one place failures become HTTP answers: the Tazapay error envelope, each code's status, and the
//! catalogue of codes that `docs/errors.md` is generated from.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kasir_app::AppError;
use kasir_domain::{codes, DomainError, FieldError};
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
        let (status, errors) = match e {
            DomainError::Invalid(errors) => (StatusCode::BAD_REQUEST, errors),
            DomainError::NotFound(f) => (StatusCode::NOT_FOUND, vec![f]),
            DomainError::Conflict(f) => (StatusCode::CONFLICT, vec![f]),
        };
        for f in &errors {
            debug_assert_eq!(
                status_of(f.code),
                Some(status.as_u16()),
                "code {} answers as docs/errors.md says",
                f.code
            );
        }
        ApiError { status, errors, retry_after: None }
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

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => d.into(),
            AppError::Store(s) => s.into(),
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

/// The object a lookup found, or 404 (code 105) naming `what` and `id`.
pub(crate) fn found<T>(v: Option<T>, what: &str, id: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| DomainError::not_found(what, id, "id").into())
}

/// One error code as `docs/errors.md` documents it.
#[derive(Debug, Clone, Copy)]
pub struct CodeDoc {
    pub code: u32,
    pub status: u16,
    pub meaning: &'static str,
    /// The table it is listed in.
    pub section: Section,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    General,
    Refunds,
}

const fn doc(code: u32, status: u16, meaning: &'static str) -> CodeDoc {
    CodeDoc { code, status, meaning, section: Section::General }
}

const fn refund(code: u32, status: u16, meaning: &'static str) -> CodeDoc {
    CodeDoc { code, status, meaning, section: Section::Refunds }
}

/// Every code with its status and meaning: the source of `docs/errors.md`'s tables.
pub const CATALOGUE: &[CodeDoc] = &[
    doc(codes::BAD_JSON, 400, "the body is not one JSON value (empty, malformed, or followed by more), or a field has the wrong JSON type (`remarks` = the field); 413 when the body exceeds 256 KiB, refused before it is read when its `Content-Length` says so"),
    doc(codes::INTERNAL, 500, "internal error (details are logged, never returned)"),
    doc(codes::UNAVAILABLE, 503, "the database is unavailable; retry with the same `Idempotency-Key` (`Retry-After` is set)"),
    doc(codes::INVALID_PATH_PARAMETER, 400, "the id in the path is not text (percent-encoded UTF-8)"),
    doc(codes::INVALID_QUERY_PARAMETER, 400, "invalid query parameter: `limit` outside 1–100, a `status` or `type` that is none of its values (an empty one included), a `starting_after` that names nothing of this account and mode"),
    doc(codes::NOT_FOUND, 404, "no such object for this key's account and mode (a test key never sees a live object), or no such route"),
    doc(codes::METHOD_NOT_ALLOWED, 405, "method not allowed on this route"),
    doc(codes::INVALID_BASIC_AUTH, 401, "`Authorization` is not `Basic base64(access_key:secret_key)`"),
    doc(codes::EMPTY_BASIC_AUTH, 401, "`Authorization` is missing or carries no credentials"),
    doc(codes::RATE_LIMITED, 429, "too many requests for this API key (`--rate-limit`), or too many failed authentications from this address (20 a minute), or more than 8 event streams open on one key on one process; retry after `Retry-After` seconds"),
    doc(codes::INVALID_API_KEY, 401, "unknown access key or wrong secret"),
    doc(codes::REQUIRED_FIELD, 400, "a required field is missing"),
    doc(codes::INVALID_FIELD, 400, "a field's value is invalid (blank text, bad e-mail, bad country, bad URL, `http` webhook with a live key, metadata over 50 keys / 40-character keys / 8 KiB)"),
    doc(codes::UNSUPPORTED_CURRENCY, 400, "unsupported currency (Kasir collects `IDR`)"),
    doc(codes::INVALID_PHONE, 400, "the OVO phone number is not an Indonesian mobile number (`calling_code` 62; 9–12 digits starting `8[1-35-9]`)"),
    doc(codes::AMOUNT_OUTSIDE_LIMITS, 400, "the amount is outside the method's limits (OVO default: `10000` to `2000000000`, i.e. IDR 100 to IDR 20,000,000)"),
    doc(codes::AMOUNT_NOT_WHOLE_UNITS, 400, "an IDR amount that is not whole rupiah (last two digits must be `00`)"),
    doc(codes::UNSUPPORTED_PAYMENT_METHOD, 400, "unsupported payment method (Kasir charges `ovo_idr`), or a live confirm while no wallet connection is configured"),
    doc(codes::INVALID_AMOUNT, 400, "the amount is zero, negative, fractional or too large"),
    doc(codes::IDEMPOTENCY_KEY_INVALID, 400, "`Idempotency-Key` is empty, not ASCII, or longer than 255 characters"),
    doc(codes::IDEMPOTENCY_IN_PROGRESS, 409, "a request with this `Idempotency-Key` is still running"),
    doc(codes::IDEMPOTENCY_BODY_MISMATCH, 422, "this `Idempotency-Key` was used with a different request (method, path or body)"),
    doc(codes::PAYIN_INVALID_ID, 404, "invalid payin id"),
    doc(codes::PAYIN_NO_LONGER_ACTIVE, 409, "the payin is no longer active (`succeeded` or `cancelled`): it cannot be confirmed, cancelled or changed beyond `metadata` and `reference_id`"),
    doc(codes::PAYIN_INVALID_STATE, 409, "the payin's state does not allow this now: confirming while an attempt awaits the customer, or cancelling while `processing`; the sandbox control on an attempt or refund that already has its outcome"),
    refund(codes::REFUND_INVALID_PAYIN, 404, "no such payin (or `payment_attempt`) for this key's account and mode; with both named, a `payment_attempt` that is not a succeeded attempt of that payin (an empty one counts as not given)"),
    refund(codes::REFUND_AMOUNT_NOT_POSITIVE, 400, "`amount` is zero or negative"),
    refund(codes::REFUND_CURRENCY_MISMATCH, 400, "`currency` is not the payin's"),
    refund(codes::REFUND_INVALID_WEBHOOK_URL, 400, "`webhook_url` is not a valid URL (or `http` with a live key)"),
    refund(codes::REFUND_NO_PAYIN, 400, "neither `payin` nor `payment_attempt` was given"),
    refund(codes::REFUND_NOT_SUCCEEDED, 409, "the payin (or attempt) has not succeeded"),
    refund(codes::REFUND_ALREADY_REFUNDED, 409, "the payin is already refunded, or a full refund of it is pending"),
    refund(codes::REFUND_EXCEEDS_REFUNDABLE, 400, "`amount` exceeds what is refundable"),
    refund(codes::REFUND_INVALID_REASON, 400, "`reason` is longer than 255 characters"),
    refund(codes::REFUND_PARTIAL_NOT_SUPPORTED, 400, "partial refunds are not supported for `ovo_idr`: `amount` must equal the payin's amount (or be left out)"),
];

/// The status a code is documented to answer with.
pub fn status_of(code: u32) -> Option<u16> {
    CATALOGUE.iter().find(|d| d.code == code).map(|d| d.status)
}

/// A section of `docs/errors.md`: its table, rendered from the catalogue.
pub fn errors_table(section: Section) -> String {
    let mut out = String::from("| code | HTTP | meaning |\n|---|---|---|\n");
    for d in CATALOGUE.iter().filter(|d| d.section == section) {
        out.push_str(&format!("| {} | {} | {} |\n", d.code, d.status, d.meaning));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_holds_every_code_once() {
        for code in codes::ALL {
            assert_eq!(CATALOGUE.iter().filter(|d| d.code == *code).count(), 1, "code {code}");
        }
        assert_eq!(CATALOGUE.len(), codes::ALL.len());
    }
}
