//! `/v3/payment_attempt`: fetch one attempt, update its metadata.

use axum::extract::State;
use axum::response::Response;
use kasir_app::attempts;
use kasir_domain::{FieldError, Mode, PaymentAttempt};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::JsonBody;
use crate::envelope::{ok, Envelope};
use crate::error::ErrorBody;
use crate::fields::Check;
use crate::path::PathId;
use crate::{idempotent, ApiError, AppState};

/// `PUT /v3/payment_attempt/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateAttemptRequest {
    #[schema(required = true, nullable = false, schema_with = crate::openapi::metadata_schema)]
    pub metadata: Option<Value>,
}

impl UpdateAttemptRequest {
    fn parse(self, mode: Mode) -> Result<Option<Map<String, Value>>, ApiError> {
        let mut c = Check::new(mode);
        if self.metadata.is_none() {
            c.push(FieldError::required("metadata"));
        }
        let m = c.metadata(self.metadata);
        c.finish(m)
    }
}

#[utoipa::path(
    get, path = "/v3/payment_attempt/{id}", tag = "payment_attempt",
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The attempt", body = Envelope<PaymentAttempt>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_attempt(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let scope = who.scope;
    Ok(ok(&state.read(move |tx| Ok::<_, ApiError>(attempts::load(tx, &scope, &id)?)).await?))
}

#[utoipa::path(
    put, path = "/v3/payment_attempt/{id}", tag = "payment_attempt",
    request_body = UpdateAttemptRequest,
    params(("id" = String, Path, description = "Payment attempt id (`pat_…`)")),
    responses(
        (status = 200, description = "The updated attempt", body = Envelope<PaymentAttempt>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such attempt", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_attempt(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: JsonBody<UpdateAttemptRequest>,
) -> Result<Response, ApiError> {
    let metadata = body.value.parse(who.scope.mode)?;
    idempotent::run(&state, &who, None, move |tx, ctx| attempts::update_metadata(tx, ctx, &id, metadata.clone())).await
}
