//! `/v3/refund`: create, fetch, list.

use axum::extract::State;
use axum::response::Response;
use kasir_app::refunds::{self, CreateRefund};
use kasir_domain::{codes, Amount, AmountError, Currency, FieldError, Mode, Refund, RefundRequest};
use serde::Deserialize;
use serde_json::{Number, Value};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::JsonBody;
use crate::envelope::{ok, Envelope, List};
use crate::error::{found, ErrorBody};
use crate::fields::{metadata_field, url_field};
use crate::path::PathId;
use crate::query::{page_answer, ListQuery};
use crate::{idempotent, ApiError, AppState};

const MAX_REASON: usize = 255;

/// `POST /v3/refund`. Leave out `amount` and `currency` for a full refund.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateRefundRequest {
    /// The payin to refund (`pay_…`), or give `payment_attempt`.
    pub payin: Option<String>,
    pub payment_attempt: Option<String>,
    /// Minor units; for `ovo_idr` it must equal the payin's amount.
    #[schema(value_type = Option<i64>, example = 10000000)]
    pub amount: Option<Number>,
    #[schema(example = "IDR")]
    pub currency: Option<String>,
    /// Free text, at most 255 characters.
    #[schema(max_length = 255, example = "Customer Return")]
    pub reason: Option<String>,
    /// Where this refund's events go; the payin's `webhook_url` when left out.
    pub webhook_url: Option<String>,
    #[schema(schema_with = crate::openapi::metadata_schema)]
    pub metadata: Option<Value>,
    pub reference_id: Option<String>,
}

impl CreateRefundRequest {
    fn parse(self, mode: Mode) -> Result<CreateRefund, ApiError> {
        let mut errors = Vec::new();
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.payin) && blank(&self.payment_attempt) {
            errors.push(FieldError::new(codes::REFUND_NO_PAYIN, "payin is required (or payment_attempt)", "payin"));
        }
        let amount = match self.amount {
            None => None,
            Some(n) => match Amount::from_json(&n) {
                Ok(a) => Some(a.minor()),
                Err(AmountError::NotPositive) => {
                    errors.push(FieldError::new(
                        codes::REFUND_AMOUNT_NOT_POSITIVE,
                        "amount must be greater than 0",
                        "amount",
                    ));
                    None
                }
                Err(e) => {
                    errors.push(FieldError::new(codes::INVALID_AMOUNT, format!("amount {e}"), "amount"));
                    None
                }
            },
        };
        let currency = match self.currency.as_deref() {
            None => None,
            Some(c) => match Currency::parse(c.trim()) {
                Some(c) => Some(c),
                None => {
                    errors.push(FieldError::new(
                        codes::REFUND_CURRENCY_MISMATCH,
                        format!("currency {c:?} is not the payin's"),
                        "currency",
                    ));
                    None
                }
            },
        };
        let reason = self.reason.unwrap_or_default();
        if reason.chars().count() > MAX_REASON {
            errors.push(FieldError::new(
                codes::REFUND_INVALID_REASON,
                format!("reason must be at most {MAX_REASON} characters"),
                "reason",
            ));
        }
        let webhook_url = match url_field(self.webhook_url, "webhook_url", mode) {
            Ok(u) => u.unwrap_or_default(),
            Err(e) => {
                errors.push(FieldError::new(codes::REFUND_INVALID_WEBHOOK_URL, e.message, e.remarks));
                String::new()
            }
        };
        let metadata = match metadata_field(self.metadata) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        Ok(CreateRefund {
            payin_id: self.payin.filter(|s| !s.trim().is_empty()),
            attempt_id: self.payment_attempt.filter(|s| !s.trim().is_empty()),
            request: RefundRequest {
                amount,
                currency,
                reason,
                reference_id: self.reference_id.unwrap_or_default(),
                webhook_url,
                metadata,
            },
        })
    }
}

#[utoipa::path(
    post, path = "/v3/refund", tag = "refund",
    request_body = CreateRefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The refund, `pending`", body = Envelope<Refund>),
        (status = 400, description = "Invalid request (30002, 30004, 30005, 30007, 30012, 30015, 30021)", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such payin (30000)", body = ErrorBody),
        (status = 409, description = "Not succeeded (30009) or already refunded (30010)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_refund(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreateRefundRequest>,
) -> Result<Response, ApiError> {
    let req = body.value.parse(who.scope.mode)?;
    idempotent::run(&state, &who, body.idem, move |tx, ctx| refunds::create(tx, ctx, req.clone())).await
}

#[utoipa::path(
    get, path = "/v3/refund/{id}", tag = "refund",
    params(("id" = String, Path, description = "Refund id (`rfd_…`)")),
    responses(
        (status = 200, description = "The refund", body = Envelope<Refund>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_refund(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (scope, key) = (who.scope, id.clone());
    Ok(ok(&found(state.read(move |tx| tx.refund(&scope, &key)).await?, "refund", &id)?))
}

#[utoipa::path(
    get, path = "/v3/refund", tag = "refund",
    params(
        ("payin" = Option<String>, Query, description = "Only refunds of this payin"),
        ("created_from" = Option<String>, Query, description = "Only refunds made at or after this RFC 3339 time"),
        ("created_to" = Option<String>, Query, description = "Only refunds made before this RFC 3339 time"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "A refund id: list the refunds older than it"),
    ),
    responses(
        (status = 200, description = "Refunds, newest first", body = Envelope<List<Refund>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_refunds(State(state): State<AppState>, who: Principal, q: ListQuery) -> Result<Response, ApiError> {
    let page = q.page()?;
    let (payin, created) = (q.text("payin"), q.created()?);
    let scope = who.scope;
    page_answer(state.read(move |tx| tx.list_refunds(&scope, payin.as_deref(), &created, &page)).await?, "refund")
}
