//! The OpenAPI document, generated from the handlers, made exact: every operation lists every answer it
//! can give (the ones every operation shares are added here, in one place), and the parameters every
//! list or write shares carry the bounds the server enforces.

use axum::Router;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, RefOr, ResponseBuilder, Schema};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::MAX_IDEMPOTENCY_KEY_LEN;
use crate::query::MAX_LIMIT;
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kasir",
        description = "A payin gateway for OVO that speaks the Tazapay v3 API. Amounts are integers in minor units (IDR 100,000.00 is 10000000).",
    ),
    modifiers(&BasicAuth),
    tags(
        (name = "payin", description = "Collect a payment"),
        (name = "payment_attempt", description = "One push to the customer's wallet"),
        (name = "checkout", description = "A hosted payment page for one payin, as Tazapay's"),
        (name = "customer", description = "The people who pay"),
        (name = "refund", description = "Money back to the customer's wallet"),
        (name = "event", description = "What happened, and its webhook deliveries"),
        (name = "webhook_endpoint", description = "Where the account's events go, besides each object's webhook_url"),
        (name = "sandbox", description = "Test keys only: resolve a pending attempt now"),
    )
)]
struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// The v3 routes and the OpenAPI document that describes exactly them.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use crate::v3::{attempts, checkouts, customers, endpoints, events, payins, refunds, sandbox};
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(payins::create_payin, payins::list_payins))
        .routes(routes!(payins::get_payin, payins::update_payin))
        .routes(routes!(payins::confirm_payin))
        .routes(routes!(payins::cancel_payin))
        .routes(routes!(attempts::get_attempt, attempts::update_attempt))
        .routes(routes!(checkouts::create_checkout, checkouts::list_checkouts))
        .routes(routes!(checkouts::get_checkout))
        .routes(routes!(checkouts::expire_checkout))
        .routes(routes!(checkouts::collect_metadata))
        .routes(routes!(customers::create_customer))
        .routes(routes!(customers::get_customer))
        .routes(routes!(events::list_events))
        .routes(routes!(events::stream_events))
        .routes(routes!(events::get_event))
        .routes(routes!(events::list_deliveries))
        .routes(routes!(events::resend_event))
        .routes(routes!(sandbox::succeed_attempt))
        .routes(routes!(sandbox::fail_attempt))
        .routes(routes!(refunds::create_refund, refunds::list_refunds))
        .routes(routes!(refunds::get_refund))
        .routes(routes!(sandbox::succeed_refund))
        .routes(routes!(sandbox::fail_refund))
        .routes(routes!(endpoints::create_endpoint, endpoints::list_endpoints))
        .routes(routes!(endpoints::get_endpoint, endpoints::update_endpoint, endpoints::delete_endpoint))
        .split_for_parts();
    // The standard answers go on once every route's operation is in.
    let (router, mut doc) = (router, doc);
    utoipa::Modify::modify(&StandardAnswers, &mut doc);
    (router, doc)
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// Adds the answers every operation shares, and the shared parameters' bounds (applied to the whole
/// document once its paths are in).
struct StandardAnswers;

/// An answer in the error envelope.
fn error_answer(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody")))),
        )
        .build()
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(error_answer(description)));
}

fn bound_parameters(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        let bounds = match (p.name.as_str(), &p.parameter_in) {
            ("limit", ParameterIn::Query) => ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_LIMIT as f64)),
            ("Idempotency-Key", ParameterIn::Header) => ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_IDEMPOTENCY_KEY_LEN))
                .pattern(Some("^[\\x21-\\x7e]+$")),
            _ => continue,
        };
        p.schema = Some(RefOr::T(Schema::Object(bounds.build())));
    }
}

impl utoipa::Modify for StandardAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                bound_parameters(op);
                let params = op.parameters.as_deref().unwrap_or_default();
                let keyed = params.iter().any(|p| p.name == "Idempotency-Key");
                let in_path = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
                if op.request_body.is_some() || !params.is_empty() {
                    add(op, "400", "Invalid request: a field, parameter or body the server cannot take");
                }
                if op.request_body.is_some() {
                    add(op, "413", "The body is larger than 256 KiB");
                }
                if in_path {
                    add(op, "404", "No such object for this key's account and mode");
                }
                if keyed {
                    add(op, "409", "A request with this Idempotency-Key is still running");
                    add(op, "422", "This Idempotency-Key was used with a different request");
                }
                add(op, "401", "Missing or wrong credentials");
                add(op, "429", "Too many requests, or too many failed authentications; see Retry-After");
                add(op, "503", "The database is unavailable; retry with the same Idempotency-Key");
            }
        }
    }
}

/// `invoice_currency`: a code Kasir collects, in any letter case, with the whitespace the API trims.
pub(crate) fn currency_schema() -> utoipa::openapi::Object {
    let case_blind = |code: &str| -> String {
        code.chars().map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())).collect()
    };
    let codes: Vec<String> = kasir_domain::money::Currency::ALL.iter().map(|c| case_blind(c.code())).collect();
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^\\s*(?:{})\\s*$", codes.join("|"))))
        .description(Some("A currency Kasir collects (`IDR`), in any letter case."))
        .examples([serde_json::json!(kasir_domain::money::Currency::ALL[0].code())])
        .build()
}

/// An e-mail address as the API judges one.
pub(crate) fn email_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(254))
        .pattern(Some(kasir_domain::customer::EMAIL_PATTERN))
        .examples([serde_json::json!("andrea@example.com")])
        .build()
}

/// A payin's `amount`: minor units, a multiple of what the currency's amounts are multiples of.
pub(crate) fn payin_amount_schema() -> utoipa::openapi::Object {
    use kasir_domain::money::Currency;
    let step = Currency::ALL.iter().map(|c| c.minor_step()).max().unwrap_or(1);
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
        .minimum(Some(step as f64))
        .maximum(Some(1e18))
        .multiple_of(Some(step as f64))
        .description(Some("Minor units: IDR 100,000.00 is `10000000`; whole rupiah, so the last two digits are `00`."))
        .examples([serde_json::json!(10_000_000)])
        .build()
}

/// `metadata`: an object of at most 50 keys of 1 to 40 characters, at most 8 KiB as JSON.
pub(crate) fn metadata_schema() -> utoipa::openapi::Object {
    use crate::fields::{MAX_METADATA_BYTES, MAX_METADATA_KEYS, MAX_METADATA_KEY_LEN};
    let names = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_METADATA_KEY_LEN));
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .max_properties(Some(MAX_METADATA_KEYS))
        .property_names(Some(names))
        .description(Some(format!(
            "At most {MAX_METADATA_KEYS} keys of 1 to {MAX_METADATA_KEY_LEN} characters, at most {} KiB as JSON.",
            MAX_METADATA_BYTES / 1024
        )))
        .build()
}
