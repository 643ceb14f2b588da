//! The success envelope, `{"status":"success","message":"","data":…}`, and pages of lists: one type for
//! the OpenAPI document and the bytes alike.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The success envelope, as documented.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `success`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Always empty.
    #[schema(value_type = String)]
    pub message: &'static str,
    pub data: T,
}

const PREFIX: &[u8] = br#"{"status":"success","message":"","data":"#;

/// The envelope around `data`, as bytes.
pub fn envelope_bytes<T: Serialize>(data: &T) -> Vec<u8> {
    serde_json::to_vec(&Envelope { status: "success", message: "", data }).expect("response serialises")
}

/// The envelope around an object's stored JSON, without decoding and encoding it again.
pub fn envelope_raw(json: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(PREFIX.len() + json.len() + 1);
    body.extend_from_slice(PREFIX);
    body.extend_from_slice(json.as_bytes());
    body.push(b'}');
    body
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// 200 with `data` in the envelope.
pub fn ok<T: Serialize>(data: &T) -> Response {
    json_response(StatusCode::OK, envelope_bytes(data))
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    /// Always `list`.
    #[schema(value_type = String)]
    object: &'static str,
    data: Vec<T>,
    /// Whether older objects follow; pass the last id as `starting_after` to fetch them.
    has_more: bool,
}

impl<T> List<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        List { object: "list", data, has_more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_envelope_is_the_envelope() {
        let data = serde_json::json!({"id": "pay_1", "amount": 5});
        assert_eq!(envelope_raw(&data.to_string()), envelope_bytes(&data));
    }
}
