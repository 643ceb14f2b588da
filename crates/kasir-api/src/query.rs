//! The query string of the list endpoints: `limit`, `starting_after`, and each list's filters, parsed
//! once for all of them.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use kasir_domain::codes;
use kasir_domain::Timestamp;
use kasir_store::{CreatedRange, Page, PageRequest};
use serde::Serialize;

use crate::envelope::{ok, List};
use crate::ApiError;

/// The default and the largest `limit`.
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 100;

fn bad(name: &str, why: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY_PARAMETER, format!("{name} {why}"), name)
}

/// A list endpoint's query parameters.
pub struct ListQuery(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad("query", "is not a valid query string"))?;
        Ok(ListQuery(q))
    }
}

impl ListQuery {
    /// `limit` (1 to 100, default 10) and `starting_after`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.0.get("limit").map(|s| s.parse::<usize>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => return Err(bad("limit", "must be an integer from 1 to 100")),
        };
        Ok(PageRequest { limit, starting_after: self.text("starting_after") })
    }

    /// A text filter; empty means absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|s| !s.is_empty()).cloned()
    }

    /// `created_from` (at or after) and `created_to` (before), RFC 3339 times.
    pub fn created(&self) -> Result<CreatedRange, ApiError> {
        let at = |name: &str| -> Result<Option<Timestamp>, ApiError> {
            match self.text(name) {
                None => Ok(None),
                Some(s) => Timestamp::parse_rfc3339(&s)
                    .map(Some)
                    .ok_or_else(|| bad(name, "must be an RFC 3339 time, such as 2026-12-01T00:00:00+07:00")),
            }
        };
        Ok(CreatedRange { from: at("created_from")?, to: at("created_to")? })
    }

    /// A filter of a closed set of values: absent, or one of them (an empty value is none of them, and
    /// is refused with `why`, which names the values allowed, as is anything else unknown).
    pub fn one_of<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>, why: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| bad(name, why)),
        }
    }
}

/// A page as the answer, or 400 when `starting_after` named nothing of this scope (`found` is `None`).
pub fn page_answer<T: Serialize>(found: Option<Page<T>>, what: &str) -> Result<Response, ApiError> {
    match found {
        Some(p) => Ok(ok(&List::new(p.data, p.has_more))),
        None => Err(bad("starting_after", &format!("is not a {what} of this account and mode"))),
    }
}
