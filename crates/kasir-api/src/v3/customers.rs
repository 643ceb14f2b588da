//! `/v3/customer`: create and fetch.

use axum::extract::State;
use axum::response::Response;
use kasir_app::customers;
use kasir_domain::Customer;
use serde_json::Value;

use crate::auth::Principal;
use crate::body::JsonBody;
use crate::envelope::{ok, Envelope};
use crate::error::ErrorBody;
use crate::fields::{customer_details, Check};
use crate::path::PathId;
use crate::{idempotent, ApiError, AppState};

customer_details! {
    /// `POST /v3/customer`.
    CreateCustomerRequest {
        reference_id: Option<String>,
        #[schema(schema_with = crate::openapi::metadata_schema)]
        metadata: Option<Value>,
    }
}

#[utoipa::path(
    post, path = "/v3/customer", tag = "customer",
    request_body = CreateCustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The new customer", body = Envelope<Customer>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_customer(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreateCustomerRequest>,
) -> Result<Response, ApiError> {
    let mut r = body.value;
    let mut c = Check::new(who.scope.mode);
    let details = c.customer_details(r.details(), "");
    let reference_id = c.text(r.reference_id, "reference_id", false).unwrap_or_default();
    let metadata = c.metadata(r.metadata);
    let Some(details) = details else {
        return Err(ApiError::invalid(c.errors));
    };
    let (details, reference_id, metadata) = c.finish((details, reference_id, metadata))?;
    idempotent::run(&state, &who, body.idem, move |tx, ctx| {
        customers::create(tx, ctx, details.clone(), reference_id.clone(), metadata.clone())
    })
    .await
}

#[utoipa::path(
    get, path = "/v3/customer/{id}", tag = "customer",
    params(("id" = String, Path, description = "Customer id (`cus_…`)")),
    responses(
        (status = 200, description = "The customer", body = Envelope<Customer>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_customer(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let scope = who.scope;
    Ok(ok(&state.read(move |tx| Ok::<_, ApiError>(customers::load(tx, &scope, &id, "id")?)).await?))
}
