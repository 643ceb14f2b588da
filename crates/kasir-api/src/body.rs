//! Request bodies: JSON parsed with the failing field's path, and the `Idempotency-Key` that guards it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use kasir_domain::codes;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::ApiError;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A JSON body and what idempotency needs to know about the request.
pub struct JsonBody<T> {
    pub value: T,
    pub idem: Option<IdemRequest>,
}

/// An `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdemRequest {
    pub key: String,
    pub fingerprint: String,
}

pub(crate) fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn idem_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::IDEMPOTENCY_KEY_INVALID,
            format!("Idempotency-Key {why}"),
            "Idempotency-Key",
        )
    };
    let s = v.to_str().map_err(|_| bad("must be visible ASCII"))?;
    if s.is_empty() {
        return Err(bad("must not be empty"));
    }
    if s.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(bad("must be at most 255 characters"));
    }
    Ok(Some(s.to_string()))
}

/// Turns a serde error into the envelope, naming the field by its JSON path.
pub fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_json(format!("request body is not valid JSON: {inner}"), "body")
        }
        Category::Data => {
            let remarks = if path == "." { "body".to_string() } else { path };
            let msg = inner.to_string();
            // serde_json appends " at line L column C"; the field name says more.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            ApiError::bad_json(format!("{remarks}: {msg}"), remarks)
        }
    }
}

/// Parses a whole body as one JSON value: nothing may follow it but white space.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_json("request body is empty; send a JSON object", "body"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        ApiError::bad_json(format!("request body is not one JSON value: {msg} after it"), "body")
    })?;
    Ok(value)
}

/// The body's bytes, read within [`crate::MAX_BODY_BYTES`]; a failure answers in the envelope.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(req.into_body(), crate::MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_json(format!("cannot read the request body: {e}"), "body")),
    }
}

/// 413 in the envelope.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::BAD_JSON,
        format!("request body is too large: at most {} KiB", crate::MAX_BODY_BYTES / 1024),
        "body",
    )
}

/// A body that may be left out (the sandbox controls' `fail`): `None` when it is empty or JSON `null`,
/// else parsed JSON; and the `Idempotency-Key` that guards it.
pub struct OptionalJson<T> {
    pub value: Option<T>,
    pub idem: Option<IdemRequest>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let key = idem_key(&req)?;
        let (method, path) = (req.method().as_str().to_string(), req.uri().path().to_string());
        let bytes = read_body(req).await?;
        let value = match bytes.iter().all(u8::is_ascii_whitespace) {
            true => None,
            false => parse_json::<Option<T>>(&bytes)?,
        };
        let idem = key.map(|key| IdemRequest { key, fingerprint: fingerprint(&method, &path, &bytes) });
        Ok(OptionalJson { value, idem })
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let key = idem_key(&req)?;
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let bytes = read_body(req).await?;
        let value = parse_json(&bytes)?;
        let idem = key.map(|key| IdemRequest { key, fingerprint: fingerprint(&method, &path, &bytes) });
        Ok(JsonBody { value, idem })
    }
}

/// For POSTs without a body (cancel): only the idempotency key.
pub struct NoBody {
    pub idem: Option<IdemRequest>,
}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let key = idem_key(&req)?;
        let fp = fingerprint(req.method().as_str(), req.uri().path(), b"");
        Ok(NoBody { idem: key.map(|key| IdemRequest { key, fingerprint: fp }) })
    }
}
