//! `/v3/payin`: create (and confirm in one call), confirm, fetch, update, cancel, list.

use axum::extract::State;
use axum::response::Response;
use kasir_app::payins::{self, ConfirmRequest, CreatePayin};
use kasir_domain::{DomainError, Mode, NewPayin, Payin, PayinFields, PayinStatus};
use kasir_store::PayinSearch;
use serde_json::{Number, Value};

use crate::auth::Principal;
use crate::body::{JsonBody, NoBody};
use crate::envelope::{envelope_raw, json_response, Envelope, List};
use crate::error::ErrorBody;
use crate::fields::{confirm_fields, payin_request, Check, PaymentMethodInput};
use crate::path::PathId;
use crate::query::{page_answer, ListQuery};
use crate::{idempotent, ApiError, AppState};

payin_request! {
    /// `POST /v3/payin`.
    CreatePayinRequest {
        /// `IDR` (any letter case).
        #[schema(required = true, nullable = false, schema_with = crate::openapi::currency_schema)]
        invoice_currency: Option<String>,
        /// Minor units: IDR 100,000.00 is `10000000`; whole rupiah, so the last two digits are `00`.
        #[schema(required = true, nullable = false, schema_with = crate::openapi::payin_amount_schema)]
        amount: Option<Number>,
        #[schema(required = true, nullable = false, max_length = 1024, pattern = "\\S", example = "1 X Good")]
        transaction_description: Option<String>,
        /// An existing customer (`cus_…`).
        customer: Option<String>,
        webhook_url: Option<String>,
        payment_methods: Option<Vec<String>>,
        #[schema(value_type = Option<Vec<Object>>)]
        items: Option<Vec<Value>>,
        #[schema(value_type = Option<Vec<Object>>)]
        transaction_documents: Option<Vec<Value>>,
        /// Create and confirm in one call.
        confirm: Option<bool>,
        payment_method_details: Option<PaymentMethodInput>,
    }
}

payin_request! {
    /// `POST /v3/payin/{id}/confirm`.
    ConfirmPayinRequest {
        customer: Option<String>,
        #[schema(required = true, nullable = false)]
        payment_method_details: Option<PaymentMethodInput>,
    }
}

payin_request! {
    /// `PUT /v3/payin/{id}`.
    UpdatePayinRequest {
        webhook_url: Option<String>,
        #[schema(max_length = 1024, pattern = "\\S")]
        transaction_description: Option<String>,
        #[schema(value_type = Option<Vec<Object>>)]
        transaction_documents: Option<Vec<Value>>,
    }
}

impl CreatePayinRequest {
    fn parse(mut self, mode: Mode) -> Result<CreatePayin, ApiError> {
        let mut c = Check::new(mode);
        let currency = c.currency(self.invoice_currency.take());
        let amount = c.amount(self.amount.take(), currency);
        let description = c.text(self.transaction_description.take(), "transaction_description", true);
        c.methods(self.payment_methods.as_deref(), "payment_methods");
        c.objects(self.items.as_deref(), "items");
        let customer_id = c.customer_ref(self.customer.take());
        let mut fields = confirm_fields(&mut c, self.shared());
        fields.webhook_url = c.url(self.webhook_url, "webhook_url", true);
        c.objects(self.transaction_documents.as_deref(), "transaction_documents");
        fields.transaction_documents = self.transaction_documents;
        let confirm = if self.confirm == Some(true) {
            c.payment_method(self.payment_method_details).map(|pm| ConfirmRequest {
                payment_method: pm,
                customer_id: None,
                fields: PayinFields::default(),
            })
        } else {
            if self.payment_method_details.is_some() {
                // Checked now so that a mistake is reported at once; applied when the payin is confirmed.
                c.payment_method(self.payment_method_details);
            }
            None
        };
        let (Some(amount), Some(currency), Some(description)) = (amount, currency, description) else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(CreatePayin {
            amount,
            currency,
            new: NewPayin { transaction_description: description, details: fields },
            customer_id,
            confirm,
        })
    }
}

impl ConfirmPayinRequest {
    fn parse(mut self, mode: Mode) -> Result<ConfirmRequest, ApiError> {
        let mut c = Check::new(mode);
        let pm = c.payment_method(self.payment_method_details.take());
        let customer_id = c.customer_ref(self.customer.take());
        let fields = confirm_fields(&mut c, self.shared());
        let Some(pm) = pm else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(ConfirmRequest { payment_method: pm, customer_id, fields })
    }
}

impl UpdatePayinRequest {
    fn parse(mut self, mode: Mode) -> Result<PayinFields, ApiError> {
        let mut c = Check::new(mode);
        let mut f = confirm_fields(&mut c, self.shared());
        f.webhook_url = c.url(self.webhook_url, "webhook_url", true);
        f.transaction_description = match self.transaction_description {
            Some(d) => c.text(Some(d), "transaction_description", true),
            None => None,
        };
        c.objects(self.transaction_documents.as_deref(), "transaction_documents");
        f.transaction_documents = self.transaction_documents;
        c.finish(f)
    }
}

#[utoipa::path(
    post, path = "/v3/payin", tag = "payin",
    request_body = CreatePayinRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The new payin (confirmed too when `confirm` is true)", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "A referenced customer does not exist", body = ErrorBody),
        (status = 409, description = "Idempotency-Key still in use", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used with another body", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_payin(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreatePayinRequest>,
) -> Result<Response, ApiError> {
    let req = body.value.parse(who.scope.mode)?;
    idempotent::run(&state, &who, body.idem, move |tx, ctx| payins::create(tx, ctx, req.clone())).await
}

#[utoipa::path(
    post, path = "/v3/payin/{id}/confirm", tag = "payin",
    request_body = ConfirmPayinRequest,
    params(("id" = String, Path, description = "Payin id (`pay_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The payin, now `requires_action`", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin or customer", body = ErrorBody),
        (status = 409, description = "The payin cannot be confirmed in its state", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used with another body", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn confirm_payin(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: JsonBody<ConfirmPayinRequest>,
) -> Result<Response, ApiError> {
    let req = body.value.parse(who.scope.mode)?;
    idempotent::run(&state, &who, body.idem, move |tx, ctx| payins::confirm(tx, ctx, &id, req.clone())).await
}

#[utoipa::path(
    get, path = "/v3/payin/{id}", tag = "payin",
    params(("id" = String, Path, description = "Payin id (`pay_…`)")),
    responses(
        (status = 200, description = "The payin", body = Envelope<Payin>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_payin(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    // The stored document is the wire object: wrap it, without decoding and encoding it again.
    match state.app.store.payin_json(&who.scope, &id).await? {
        Some(raw) => Ok(json_response(axum::http::StatusCode::OK, envelope_raw(&raw))),
        None => Err(DomainError::not_found("payin", &id, "id").into()),
    }
}

#[utoipa::path(
    put, path = "/v3/payin/{id}", tag = "payin",
    request_body = UpdatePayinRequest,
    params(("id" = String, Path, description = "Payin id (`pay_…`)")),
    responses(
        (status = 200, description = "The updated payin", body = Envelope<Payin>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
        (status = 409, description = "The payin is final; only metadata and reference_id change", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn update_payin(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: JsonBody<UpdatePayinRequest>,
) -> Result<Response, ApiError> {
    let fields = body.value.parse(who.scope.mode)?;
    idempotent::run(&state, &who, None, move |tx, ctx| payins::update(tx, ctx, &id, fields.clone())).await
}

#[utoipa::path(
    post, path = "/v3/payin/{id}/cancel", tag = "payin",
    params(("id" = String, Path, description = "Payin id (`pay_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The cancelled payin", body = Envelope<Payin>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin", body = ErrorBody),
        (status = 409, description = "The payin is no longer active (19626) or cannot be cancelled now (19627)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn cancel_payin(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: NoBody,
) -> Result<Response, ApiError> {
    // A push that may be waiting on the customer's phone is settled or reversed first (live OVO).
    kasir_app::wallet::calls::before_cancel(&state.app, &who.scope, &id).await?;
    idempotent::run(&state, &who, body.idem, move |tx, ctx| payins::cancel(tx, ctx, &id)).await
}

#[utoipa::path(
    get, path = "/v3/payin", tag = "payin",
    params(
        ("status" = Option<PayinStatus>, Query, description = "Only payins in this status"),
        ("created_from" = Option<String>, Query, description = "Only payins made at or after this RFC 3339 time"),
        ("created_to" = Option<String>, Query, description = "Only payins made before this RFC 3339 time"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "A payin id: list the payins older than it"),
    ),
    responses(
        (status = 200, description = "Payins, newest first", body = Envelope<List<Payin>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_payins(State(state): State<AppState>, who: Principal, q: ListQuery) -> Result<Response, ApiError> {
    let statuses: Vec<_> = PayinStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status = q.one_of("status", PayinStatus::parse, &format!("must be one of {}", statuses.join(", ")))?;
    let (page, created) = (q.page()?, q.created()?);
    let scope = who.scope;
    let listed = state.read(move |tx| {
        if created.is_all() {
            return tx.list_payins(&scope, status, &page);
        }
        let search = PayinSearch { status, from: created.from, to: created.to, ..Default::default() };
        tx.search_payins(&scope, &search, &page)
    });
    page_answer(listed.await?, "payin")
}
