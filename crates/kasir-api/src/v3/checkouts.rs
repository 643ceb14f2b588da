//! `/v3/checkout`: a hosted payment page, as Tazapay's: create, fetch (by its id or its payin's), expire,
//! list; and `/v3/metadata/collect`, the payment methods a payment could use.

use axum::extract::State;
use axum::response::Response;
use kasir_app::checkouts;
use kasir_domain::{Checkout, CheckoutStatus, Currency, Mode, NewCheckout, PaymentMethodType, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{fingerprint, IdemRequest, JsonBody, NoBody};
use crate::envelope::{ok, Envelope, List};
use crate::error::ErrorBody;
use crate::fields::{Check, CustomerDetailsInput};
use crate::path::PathId;
use crate::query::{page_answer, ListQuery};
use crate::{idempotent, ApiError, AppState};

/// The furthest ahead a checkout's `expires_at` may be.
const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// `POST /v3/checkout`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateCheckoutRequest {
    #[schema(required = true, nullable = false, schema_with = crate::openapi::currency_schema)]
    pub invoice_currency: Option<String>,
    #[schema(required = true, nullable = false, schema_with = crate::openapi::payin_amount_schema)]
    pub amount: Option<Number>,
    #[schema(required = true, nullable = false)]
    pub customer_details: Option<CustomerDetailsInput>,
    /// Where the customer goes once Kasir has recorded the payment.
    #[schema(required = true, nullable = false, max_length = 1024, example = "https://shop.example/thanks")]
    pub success_url: Option<String>,
    /// Where the customer goes to give up, or when the checkout expired.
    #[schema(required = true, nullable = false, max_length = 1024, example = "https://shop.example/cart")]
    pub cancel_url: Option<String>,
    #[schema(required = true, nullable = false, max_length = 1024, pattern = "\\S", example = "1 x Kopi Susu")]
    pub transaction_description: Option<String>,
    /// Where the checkout's events (and its payin's) go.
    #[schema(max_length = 1024)]
    pub webhook_url: Option<String>,
    /// The methods offered; every method for the currency when left out.
    pub payment_methods: Option<Vec<String>>,
    /// Methods not to offer (Tazapay's plugin sends this; names Kasir does not charge are ignored).
    pub remove_payment_methods: Option<Vec<String>>,
    /// RFC 3339; 24 hours from now when left out (`--checkout-lifetime`), at most 90 days ahead.
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-08T10:15:30Z")]
    pub expires_at: Option<String>,
    #[schema(max_length = 1024)]
    pub reference_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    /// What is bought (`{name, description, amount, quantity}`), shown on the page; its amounts need not
    /// add up to `amount`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<Value>>,
    #[schema(schema_with = crate::openapi::metadata_schema)]
    pub metadata: Option<Value>,
}

impl CreateCheckoutRequest {
    fn parse(self, mode: Mode, now: Timestamp) -> Result<NewCheckout, ApiError> {
        let mut c = Check::new(mode);
        let currency = c.currency(self.invoice_currency);
        let amount = c.amount(self.amount, currency);
        let description = c.text(self.transaction_description, "transaction_description", true);
        let customer_details = match self.customer_details {
            Some(d) => c.customer_details(d, "customer_details"),
            None => {
                c.push(kasir_domain::FieldError::required("customer_details"));
                None
            }
        };
        let required_url = |c: &mut Check, v: Option<String>, field: &str| match c.url(v, field, false) {
            Some(u) if u.is_empty() => {
                c.push(kasir_domain::FieldError::invalid(field, "must be an absolute http or https URL"));
                None
            }
            Some(u) => Some(u),
            None if c.errors.iter().any(|e| e.remarks == field) => None,
            None => {
                c.push(kasir_domain::FieldError::required(field));
                None
            }
        };
        let success_url = required_url(&mut c, self.success_url, "success_url");
        let cancel_url = required_url(&mut c, self.cancel_url, "cancel_url");
        let webhook_url = c.url(self.webhook_url, "webhook_url", true).unwrap_or_default();
        let offered = c.methods(self.payment_methods.as_deref(), "payment_methods");
        let removed: Vec<PaymentMethodType> =
            self.remove_payment_methods.iter().flatten().filter_map(|m| PaymentMethodType::parse(m)).collect();
        let expires_at = match self.expires_at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match Timestamp::parse_rfc3339(s) {
                Some(t) if t > now && t <= now.plus(MAX_LIFETIME) => Some(t),
                Some(t) if t <= now => {
                    c.push(kasir_domain::FieldError::invalid("expires_at", "must be in the future"));
                    None
                }
                Some(_) => {
                    c.push(kasir_domain::FieldError::invalid("expires_at", "must be at most 90 days ahead"));
                    None
                }
                None => {
                    c.push(kasir_domain::FieldError::invalid("expires_at", "must be an RFC 3339 time"));
                    None
                }
            },
        };
        let reference_id = c.text(self.reference_id, "reference_id", false).unwrap_or_default();
        let billing_details = c.object(self.billing_details, "billing_details");
        let shipping_details = c.object(self.shipping_details, "shipping_details");
        c.objects(self.items.as_deref(), "items");
        let metadata = c.metadata(self.metadata);
        let methods: Vec<PaymentMethodType> = match (currency, offered) {
            (Some(cur), None) => PaymentMethodType::for_currency(cur).collect(),
            (_, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        let methods: Vec<PaymentMethodType> = methods.into_iter().filter(|m| !removed.contains(m)).collect();
        if let Some(cur) = currency {
            if methods.is_empty() || methods.iter().any(|m| m.currency() != cur) {
                c.push(kasir_domain::FieldError::new(
                    kasir_domain::codes::UNSUPPORTED_PAYMENT_METHOD,
                    format!(
                        "payment_methods must name methods that charge {cur}, and leave at least one: {}",
                        PaymentMethodType::for_currency(cur)
                            .map(PaymentMethodType::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "payment_methods",
                ));
            }
        }
        let (Some(amount), Some(currency), Some(description), Some(customer_details), Some(success), Some(cancel)) =
            (amount, currency, description, customer_details, success_url, cancel_url)
        else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(NewCheckout {
            amount: amount.minor(),
            currency,
            transaction_description: description,
            customer_details,
            success_url: success,
            cancel_url: cancel,
            webhook_url,
            payment_methods: methods,
            expires_at,
            reference_id,
            billing_details,
            shipping_details,
            items: self.items.unwrap_or_default(),
            metadata,
        })
    }
}

/// What makes two requests under one `Idempotency-Key` the same checkout: the payment (amount,
/// currency, reference) and where it leads (the three URLs). Customer details, `expires_at`, items and
/// the rest may differ: Tazapay's plugin sends them again, changed, when a shopper retries an order, and
/// gets back the checkout made first (decision 0014).
fn checkout_fingerprint(new: &NewCheckout) -> String {
    let same_payment = serde_json::json!([
        new.amount,
        new.currency.code(),
        new.reference_id,
        new.success_url,
        new.cancel_url,
        new.webhook_url,
    ]);
    fingerprint("POST", "/v3/checkout", same_payment.to_string().as_bytes())
}

#[utoipa::path(
    post, path = "/v3/checkout", tag = "checkout",
    request_body = CreateCheckoutRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours to a request for the same payment (amount, currency, reference_id, URLs), whatever else differs")),
    responses(
        (status = 200, description = "The new checkout; `url` is its page", body = Envelope<Checkout>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 409, description = "Idempotency-Key still in use", body = ErrorBody),
        (status = 422, description = "Idempotency-Key used for another payment", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create_checkout(
    State(state): State<AppState>,
    who: Principal,
    body: JsonBody<CreateCheckoutRequest>,
) -> Result<Response, ApiError> {
    let new = body.value.parse(who.scope.mode, state.app.clock.now())?;
    let idem = body.idem.map(|i| IdemRequest { fingerprint: checkout_fingerprint(&new), ..i });
    idempotent::run(&state, &who, idem, move |tx, ctx| checkouts::create(tx, ctx, new.clone())).await
}

#[utoipa::path(
    get, path = "/v3/checkout/{id}", tag = "checkout",
    params(("id" = String, Path, description = "Checkout id (`chk_…`), or the id of the payin behind it (`pay_…`)")),
    responses(
        (status = 200, description = "The checkout", body = Envelope<Checkout>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such checkout", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn get_checkout(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let scope = who.scope;
    let c = state.read(move |tx| checkouts::view(tx, &scope, &id)).await?;
    Ok(ok(&c))
}

#[utoipa::path(
    post, path = "/v3/checkout/{id}/expire", tag = "checkout",
    params(("id" = String, Path, description = "Checkout id (`chk_…`) or its payin's (`pay_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first 2xx answer for 24 hours")),
    responses(
        (status = 200, description = "The expired checkout; its payin is cancelled", body = Envelope<Checkout>),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 404, description = "No such checkout", body = ErrorBody),
        (status = 409, description = "Already expired (19626), or its payment is processing or paid (19627)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn expire_checkout(
    State(state): State<AppState>,
    who: Principal,
    PathId(id): PathId,
    body: NoBody,
) -> Result<Response, ApiError> {
    idempotent::run(&state, &who, body.idem, move |tx, ctx| checkouts::expire(tx, ctx, &id)).await
}

#[utoipa::path(
    get, path = "/v3/checkout", tag = "checkout",
    params(
        ("status" = Option<CheckoutStatus>, Query, description = "Only checkouts in this status"),
        ("limit" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("starting_after" = Option<String>, Query, description = "A checkout id: list the checkouts older than it"),
    ),
    responses(
        (status = 200, description = "Checkouts, newest first", body = Envelope<List<Checkout>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn list_checkouts(State(state): State<AppState>, who: Principal, q: ListQuery) -> Result<Response, ApiError> {
    let status = q.one_of("status", CheckoutStatus::parse, "must be one of active, expired")?;
    let page = q.page()?;
    let scope = who.scope;
    let found = state
        .read(move |tx| {
            let Some(mut page) = tx.list_checkouts(&scope, status, &page)? else { return Ok(None) };
            for c in &mut page.data {
                // Each as it is now: what follows from its payin.
                let payin = kasir_app::payins::load(tx, &scope, &c.payin)?;
                let attempts = tx.attempts_of(&scope, &payin.id)?;
                c.follow(&payin, attempts);
            }
            Ok::<_, kasir_app::AppError>(Some(page))
        })
        .await?;
    page_answer(found, "checkout")
}

/// One payment method a payment could use.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectMethod {
    #[serde(rename = "type")]
    pub kind: PaymentMethodType,
    /// What customers call it.
    pub name: &'static str,
    pub currency: Currency,
    pub min_amount: i64,
    pub max_amount: i64,
}

/// What `GET /v3/metadata/collect` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectMetadata {
    pub object: &'static str,
    /// The currency asked about, upper-cased.
    pub invoice_currency: String,
    /// The methods that take it (for the amount, when one was given); none for a currency Kasir does
    /// not collect.
    pub payment_methods: Vec<CollectMethod>,
}

#[utoipa::path(
    get, path = "/v3/metadata/collect", tag = "checkout",
    params(
        ("invoice_currency" = Option<String>, Query, description = "Any currency code; Kasir collects IDR"),
        ("amount" = Option<i64>, Query, description = "Minor units: only methods whose limits take it"),
        ("customer_country" = Option<String>, Query, description = "Accepted; not used"),
        ("account_country" = Option<String>, Query, description = "Accepted; not used"),
    ),
    responses(
        (status = 200, description = "The payment methods available", body = Envelope<CollectMetadata>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn collect_metadata(
    State(state): State<AppState>,
    _who: Principal,
    q: ListQuery,
) -> Result<Response, ApiError> {
    let asked = q.text("invoice_currency").unwrap_or_default().trim().to_ascii_uppercase();
    let amount =
        q.one_of("amount", |s| s.parse::<i64>().ok().filter(|n| *n >= 0), "must be a whole number of minor units")?;
    let methods = match Currency::parse(&asked) {
        None => Vec::new(),
        Some(cur) => PaymentMethodType::for_currency(cur)
            .map(|m| (m, state.app.rules.limits.of(m)))
            .filter(|(m, limits)| amount.is_none_or(|a| m.check_amount(a, cur, *limits).is_ok()))
            .map(|(m, limits)| CollectMethod {
                kind: m,
                name: m.method().label,
                currency: cur,
                min_amount: limits.min,
                max_amount: limits.max,
            })
            .collect(),
    };
    Ok(ok(&CollectMetadata { object: "metadata.collect", invoice_currency: asked, payment_methods: methods }))
}
