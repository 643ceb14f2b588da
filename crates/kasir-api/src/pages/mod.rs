//! The hosted pages a customer pays on, reached by the token in their address alone:
//!
//! - `/checkout/{token}`: a checkout's page (what is bought, the method, "Buat Pesanan");
//! - `/checkout/{token}/ovo`, and `/pay/{client_token}` for a payin made through the API: the OVO page
//!   (the phone number, "Bayar"), whose form sends the push through the same confirm as the API;
//! - `…/status`: waiting for the customer's approval (a countdown, what to do in the OVO app), then the
//!   receipt and the way back to `success_url`, the reason a push failed and a way to send another,
//!   or why nothing can be paid any more; `…/status.json` is what the page's script watches;
//! - `/js/v2.0.js` (and `/js/v2.0-sandbox.js`, the name a plugin in sandbox mode loads): the script
//!   Tazapay's plugins call to open a checkout.
//!
//! Every page works without JavaScript (forms, and a refresh while waiting); with it, the status is
//! live. Indonesian by default, English by `Accept-Language` or the switch on every page.

pub(crate) mod render;
mod text;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use kasir_app::checkouts::{self, PushRefused};
use kasir_app::pages::{self, PageData, PageKind, PageState};
use kasir_domain::{DomainError, PaymentMethodDetails, Phone};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::AppState;
use render::{
    minutes, page, wib, with_cookies, Chrome, ClosedPage, Item, LandingPage, NotFoundPage, ReceiptPage, WaitingPage,
};
pub use text::Lang;

/// The script Tazapay's plugins load (`/js/v2.0.js`).
pub const SDK_JS: &str = include_str!("sdk.js");

const LANG_COOKIE: &str = "kasir_lang";
pub(crate) const CSRF_COOKIE: &str = "kasir_csrf";

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout/{token}", get(checkout_page))
        .route("/checkout/{token}/ovo", get(landing::<CHECKOUT>).post(push::<CHECKOUT>))
        .route("/checkout/{token}/status", get(status::<CHECKOUT>))
        .route("/checkout/{token}/status.json", get(status_json::<CHECKOUT>))
        .route("/pay/{token}", get(landing::<PAYIN>).post(push::<PAYIN>))
        .route("/pay/{token}/status", get(status::<PAYIN>))
        .route("/pay/{token}/status.json", get(status_json::<PAYIN>))
        .route("/js/v2.0.js", get(sdk))
        .route("/js/v2.0-sandbox.js", get(sdk))
}

/// The route templates of the pages, for metrics.
pub const ROUTES: &[&str] = &[
    "/checkout/{token}",
    "/checkout/{token}/ovo",
    "/checkout/{token}/status",
    "/checkout/{token}/status.json",
    "/pay/{token}",
    "/pay/{token}/status",
    "/pay/{token}/status.json",
    "/js/v2.0.js",
    "/js/v2.0-sandbox.js",
];

/// Whether `path` is a hosted page's (whose path holds its token, so is never logged).
pub fn is_page(path: &str) -> bool {
    path.starts_with("/checkout/") || path.starts_with("/pay/")
}

/// A handler's page kind, as a const parameter: a checkout's page, or an API payin's.
const CHECKOUT: bool = true;
const PAYIN: bool = false;

fn kind_of(checkout: bool) -> PageKind {
    if checkout {
        PageKind::Checkout
    } else {
        PageKind::Payin
    }
}

/// Where a page's parts live.
struct Paths {
    base: String,
    landing: String,
}

fn paths(kind: PageKind, token: &str) -> Paths {
    match kind {
        PageKind::Checkout => Paths { base: format!("/checkout/{token}"), landing: format!("/checkout/{token}/ovo") },
        PageKind::Payin => Paths { base: format!("/pay/{token}"), landing: format!("/pay/{token}") },
    }
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

/// The page's language: `?lang=` (remembered in a cookie), the cookie, `Accept-Language`, Indonesian.
fn language(headers: &HeaderMap, q: &PageQuery, cookies: &mut Vec<String>) -> Lang {
    if let Some(l) = q.lang.as_deref().and_then(Lang::parse) {
        cookies.push(lang_cookie(l));
        return l;
    }
    preferred_language(headers)
}

/// The cookie that keeps a chosen language for a year, on every page.
pub(crate) fn lang_cookie(lang: Lang) -> String {
    format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code())
}

/// The language a browser has chosen: the `kasir_lang` cookie, else `Accept-Language`, else Indonesian.
pub(crate) fn preferred_language(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .or_else(|| {
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Id)
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// The form's CSRF token: the browser's `kasir_csrf` cookie (made now when it has none), which a form
/// must carry back (a site elsewhere can neither read nor set it).
pub(crate) fn csrf(headers: &HeaderMap, cookies: &mut Vec<String>) -> String {
    if let Some(v) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32) {
        return v;
    }
    let v = kasir_domain::checkout::page_token()[..32].to_string();
    cookies.push(format!("{CSRF_COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict"));
    v
}

/// Reads what a page shows, by its token.
async fn load(state: &AppState, kind: PageKind, token: String) -> Result<Option<PageData>, Response> {
    state.app.store.read(move |tx| pages::find(tx, kind, &token)).await.map_err(|e| {
        tracing::warn!(error = %e, "a page could not be read");
        (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "2")], "busy; retry in a moment").into_response()
    })
}

/// A page opened by its token: its language, the cookies to set, where its parts live, what it shows,
/// and when it is.
struct Opened {
    lang: Lang,
    cookies: Vec<String>,
    p: Paths,
    d: PageData,
    now: kasir_domain::Timestamp,
}

type PathToken = Result<Path<String>, axum::extract::rejection::PathRejection>;

/// Opens the page `token` names, or the answer instead of it: the not-found page, or busy.
async fn open(
    state: &AppState,
    kind: PageKind,
    headers: &HeaderMap,
    q: &PageQuery,
    token: PathToken,
) -> Result<Opened, Response> {
    let mut cookies = Vec::new();
    let lang = language(headers, q, &mut cookies);
    let Ok(Path(token)) = token else { return Err(not_found(lang, &cookies)) };
    let p = paths(kind, &token);
    match load(state, kind, token).await? {
        Some(d) => Ok(Opened { lang, cookies, p, d, now: state.app.clock.now() }),
        None => Err(not_found(lang, &cookies)),
    }
}

fn not_found(lang: Lang, cookies: &[String]) -> Response {
    let p = NotFoundPage { chrome: Chrome::new(lang, "Kasir", "missing") };
    page(StatusCode::NOT_FOUND, &p, &p.chrome.nonce.clone(), cookies)
}

fn state_name(s: PageState) -> &'static str {
    match s {
        PageState::Fresh => "fresh",
        PageState::Waiting { .. } => "waiting",
        PageState::Failed { .. } => "failed",
        PageState::OutOfTries { .. } => "out_of_tries",
        PageState::Paid => "paid",
        PageState::Closed => "closed",
    }
}

fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

fn amount(d: &PageData) -> String {
    d.payin.invoice_currency.display(d.payin.amount)
}

/// `GET /checkout/{token}`: what is bought, and the method to pay with.
async fn checkout_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    token: PathToken,
) -> Response {
    let Opened { lang, cookies, p, d, now } = match open(&state, PageKind::Checkout, &headers, &q, token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    match d.state(now) {
        PageState::Fresh => {}
        PageState::Failed { .. } | PageState::OutOfTries { .. } => return see(&p.landing),
        _ => return see(&format!("{}/status", p.base)),
    }
    let checkout = d.checkout.as_ref();
    let items = checkout
        .map(|c| c.items.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            let name = i.get("name")?.as_str()?.to_string();
            let quantity = i.get("quantity").and_then(|q| q.as_f64()).unwrap_or(1.0);
            let unit = i.get("amount").and_then(|a| a.as_f64()).unwrap_or(0.0);
            Some(Item {
                name,
                quantity: format!("{quantity}"),
                amount: d.payin.invoice_currency.display((unit * quantity).round() as i64),
            })
        })
        .collect();
    let chrome = Chrome::new(lang, &d.merchant, "fresh");
    let nonce = chrome.nonce.clone();
    let body = render::CheckoutPage {
        chrome,
        amount: amount(&d),
        description: d.payin.transaction_description.clone(),
        items,
        landing: p.landing,
        cancel_url: d.payin.cancel_url.clone(),
    };
    page(StatusCode::OK, &body, &nonce, &cookies)
}

/// The OVO page: the phone number, and "Bayar".
async fn landing<const K: bool>(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    token: PathToken,
) -> Response {
    let Opened { lang, mut cookies, p, d, now } = match open(&state, kind_of(K), &headers, &q, token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    match d.state(now) {
        PageState::Fresh | PageState::Failed { .. } | PageState::OutOfTries { .. } => {}
        _ => return see(&format!("{}/status", p.base)),
    }
    let csrf = csrf(&headers, &mut cookies);
    landing_page(StatusCode::OK, &d, lang, &p, csrf, None, now, &cookies)
}

/// Renders the OVO page for `d` as it is, with `notice` (an error in the form) above the form.
#[allow(clippy::too_many_arguments)]
fn landing_page(
    status: StatusCode,
    d: &PageData,
    lang: Lang,
    p: &Paths,
    csrf: String,
    notice: Option<&'static str>,
    now: kasir_domain::Timestamp,
    cookies: &[String],
) -> Response {
    let t = lang.text();
    let st = d.state(now);
    let (reason, can_push, outcome) = match st {
        PageState::Failed { reason } => (Some(t.reason(reason)), true, ""),
        PageState::OutOfTries { reason } => (Some(t.reason(reason)), false, "fail"),
        _ => (None, true, ""),
    };
    let notice = match (notice, st) {
        (Some(n), _) => n.to_string(),
        (None, PageState::OutOfTries { .. }) => format!("{} {}", reason.unwrap_or_default(), t.out_of_tries),
        (None, _) => reason.unwrap_or_default().to_string(),
    };
    // The number the merchant gave, until the customer has sent one; a sent number is shown masked.
    let prefill = match (&d.payin.customer_details, d.last_phone()) {
        (_, Some(_)) => String::new(),
        // However the shop wrote it (`0812-…`, `62812…`, `+62 812…`), as the form's example writes it.
        (Some(c), None) => c
            .phone
            .as_ref()
            .and_then(|p| Phone::parse(&p.calling_code, &p.number, d.scope.mode).ok())
            .map(|p| format!("0{}", p.number))
            .unwrap_or_default(),
        (None, None) => String::new(),
    };
    let mut chrome = Chrome::new(lang, &d.merchant, state_name(st));
    chrome.outcome = outcome;
    let nonce = chrome.nonce.clone();
    let body = LandingPage {
        chrome,
        amount: amount(d),
        description: d.payin.transaction_description.clone(),
        landing: p.landing.clone(),
        csrf,
        phone: prefill,
        again_to: d.last_phone().map(Phone::masked).unwrap_or_default(),
        notice,
        can_push,
        cancel_url: d.payin.cancel_url.clone(),
    };
    page(status, &body, &nonce, cookies)
}

#[derive(Debug, Default, Deserialize)]
struct PushForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    again: String,
}

/// Whether a form post may come from one of Kasir's own pages: its `Origin`, when it names one, is
/// Kasir's. (The pages' `Referrer-Policy: no-referrer` makes a browser send `Origin: null` for their own
/// forms; the CSRF cookie, which only Kasir's pages can have sent, decides those.)
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    if origin == "null" {
        return true;
    }
    let ours = url::Url::parse(&state.app.pages).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin == ours || origin.split_once("://").is_some_and(|(_, h)| h == host)
}

/// A press of "Bayar": the push, then the status page.
async fn push<const K: bool>(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PathToken,
    form: Result<Form<PushForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let opened = open(&state, kind_of(K), &headers, &PageQuery::default(), token).await;
    let Opened { lang, mut cookies, p, d, now } = match opened {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = lang.text();
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let cookie_csrf = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    let fresh_csrf = csrf(&headers, &mut cookies);
    let csrf_ok = cookie_csrf.len() == 32 && bool::from(cookie_csrf.as_bytes().ct_eq(form.csrf.as_bytes()));
    if !csrf_ok || !same_origin(&state, &headers) {
        return landing_page(StatusCode::FORBIDDEN, &d, lang, &p, fresh_csrf, Some(t.bad_form), now, &cookies);
    }
    let phone =
        if form.again == "1" { d.last_phone().cloned() } else { Phone::parse("62", &form.phone, d.scope.mode).ok() };
    let Some(phone) = phone else {
        return landing_page(StatusCode::BAD_REQUEST, &d, lang, &p, fresh_csrf, Some(t.bad_phone), now, &cookies);
    };
    let payin_id = d.payin.id.clone();
    let method = PaymentMethodDetails::ovo(phone);
    let pushed =
        state.app.write(d.scope.clone(), move |tx, ctx| checkouts::push(tx, ctx, &payin_id, method.clone())).await;
    match pushed {
        Ok(Ok(_)) | Ok(Err(PushRefused::Waiting | PushRefused::Paid | PushRefused::Closed)) => {
            with_cookies(see(&format!("{}/status", p.base)), &cookies)
        }
        Ok(Err(PushRefused::TooMany)) => {
            landing_page(StatusCode::CONFLICT, &d, lang, &p, fresh_csrf, Some(t.out_of_tries), now, &cookies)
        }
        // Another push got there first, or the payin changed under it: the status says what it is now.
        Err(kasir_app::AppError::Domain(DomainError::Conflict(_))) => see(&format!("{}/status", p.base)),
        // The payin cannot be paid with this method as it is (an amount outside OVO's limits, say): the
        // customer can do nothing about it but tell the shop.
        Err(kasir_app::AppError::Domain(e)) => {
            tracing::info!(payin = %d.payin.id, error = %e, "a page's push was refused");
            landing_page(StatusCode::UNPROCESSABLE_ENTITY, &d, lang, &p, fresh_csrf, Some(t.refused), now, &cookies)
        }
        Err(kasir_app::AppError::Store(e)) => {
            tracing::warn!(error = %e, "a page's push could not be written");
            landing_page(StatusCode::SERVICE_UNAVAILABLE, &d, lang, &p, fresh_csrf, Some(t.busy), now, &cookies)
        }
    }
}

/// Where paying is: waiting (a countdown), paid (the receipt), failed, or closed.
async fn status<const K: bool>(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    token: PathToken,
) -> Response {
    let Opened { lang, mut cookies, p, d, now } = match open(&state, kind_of(K), &headers, &q, token).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = lang.text();
    let st = d.state(now);
    let mut chrome = Chrome::new(lang, &d.merchant, state_name(st));
    let nonce = chrome.nonce.clone();
    match st {
        PageState::Fresh => see(&p.landing),
        PageState::Failed { .. } | PageState::OutOfTries { .. } => {
            let csrf = csrf(&headers, &mut cookies);
            landing_page(StatusCode::OK, &d, lang, &p, csrf, None, now, &cookies)
        }
        PageState::Waiting { until } => {
            chrome.poll = format!("{}/status.json", p.base);
            let left = (until.as_micros() - now.as_micros()).div_euclid(1_000_000);
            let body = WaitingPage {
                chrome,
                phone: d.last_phone().map(Phone::masked).unwrap_or_default(),
                amount: amount(&d),
                left_secs: left.max(0),
                left: minutes(left),
                deadline: wib(until, t, lang),
                status: format!("{}/status", p.base),
            };
            page(StatusCode::OK, &body, &nonce, &cookies)
        }
        PageState::Paid => {
            chrome.outcome = "success";
            // Just paid: say so and go back to the shop. Paid a while ago (a link opened again): say it was.
            let recent = d.paid_at.is_none_or(|at| now.as_micros() - at.as_micros() < 10 * 60 * 1_000_000);
            let reference =
                if d.payin.reference_id.is_empty() { d.payin.id.clone() } else { d.payin.reference_id.clone() };
            let body = ReceiptPage {
                chrome,
                title: if recent { t.paid_title } else { t.already_paid_title },
                amount: amount(&d),
                reference,
                paid_at: d.paid_at.map(|at| wib(at, t, lang)).unwrap_or_default(),
                success_url: d.payin.success_url.clone(),
                redirect: recent,
            };
            page(StatusCode::OK, &body, &nonce, &cookies)
        }
        PageState::Closed => {
            chrome.outcome = "cancel";
            let cancelled = d.payin.status == kasir_domain::PayinStatus::Cancelled
                && d.checkout.as_ref().is_none_or(|c| now < c.expires_at);
            let body = ClosedPage {
                chrome,
                body: if cancelled { t.cancelled_body } else { t.closed_body },
                cancel_url: d.payin.cancel_url.clone(),
            };
            page(StatusCode::OK, &body, &nonce, &cookies)
        }
    }
}

/// The live status a waiting page watches: its state, and the page that shows it.
async fn status_json<const K: bool>(State(state): State<AppState>, token: PathToken) -> Response {
    let kind = kind_of(K);
    let Ok(Path(token)) = token else { return StatusCode::NOT_FOUND.into_response() };
    let p = paths(kind, &token);
    let d = match load(&state, kind, token).await {
        Ok(Some(d)) => d,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(r) => return r,
    };
    let st = d.state(state.app.clock.now());
    let body = serde_json::json!({"state": state_name(st), "page": format!("{}/status", p.base)});
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /js/v2.0.js` and `/js/v2.0-sandbox.js` (any query, e.g. WordPress's `?ver=`): one script for both
/// modes, since the token says which it is.
async fn sdk() -> Response {
    let mut res = ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SDK_JS).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
