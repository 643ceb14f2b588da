//! The payments side of the dashboard, open to every role: the home page's last 30 days, the payins
//! and checkouts lists (and the payins' CSV), a payin's page with its attempts, timeline, deliveries
//! and refunds, refunding from a button, and the queue of refunds awaiting a manual transfer.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use kasir_app::refunds::{self, CreateRefund};
use kasir_app::reports::{self, PAYIN_COLUMNS};
use kasir_app::sandbox::{self, Resolve};
use kasir_app::users::Role;
use kasir_app::{outbox, AppError};
use kasir_domain::{
    Checkout, CheckoutStatus, Event, Mode, Outcome, Payin, PayinStatus, RefundRequest, Timestamp, WIB_OFFSET_SECS,
};
use kasir_store::{IdemRecord, IdemState, PageRequest, PayinSearch, Scope, StoreError};
use serde::Deserialize;

use super::{audit, failed, message, posted, see, show, signed, Frame, Signed};
use crate::pages::render::wib;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/payins", get(payins))
        .route("/dashboard/payins.csv", get(payins_csv))
        .route("/dashboard/checkouts", get(checkouts))
        .route("/dashboard/payins/{id}", get(payin_page))
        .route("/dashboard/payins/{id}/refund", get(refund_page).post(refund))
        .route("/dashboard/events/{id}/resend", post(resend))
        .route("/dashboard/attempts/{id}/{outcome}", post(resolve))
        .route("/dashboard/transfers", get(transfers))
        .route("/dashboard/transfers/{id}", post(finish_transfer))
}

/// How many rows a list page shows.
const PAGE: usize = 25;
const DAY_MICROS: i64 = 86_400_000_000;

fn when(s: &Signed, t: Timestamp) -> String {
    wib(t, s.lang.text(), s.lang)
}

fn amount(p: &Payin) -> String {
    p.invoice_currency.display(p.amount)
}

macro_rules! open {
    ($state:expr, $headers:expr, $role:expr) => {
        match signed(&$state, &$headers, $role).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
}

macro_rules! post_open {
    ($state:expr, $headers:expr, $csrf:expr, $role:expr) => {
        match posted(&$state, &$headers, $csrf, $role).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
}
pub(super) use {open, post_open};

/// A form, or its default (every field empty) when it cannot be read: the handler's own checks refuse it.
pub(super) fn form_or_default<T: Default>(f: Result<Form<T>, axum::extract::rejection::FormRejection>) -> T {
    f.map(|f| f.0).unwrap_or_default()
}

// ---- Home ----

struct Day {
    x: usize,
    y: i64,
    h: i64,
    label: String,
    title: String,
}

/// Where a day's amount paid sits on the chart's line: 0 at the axis (y 110), the month's most at the top.
fn amount_y(amount: i64, most: i64) -> i64 {
    110 - amount * 100 / most.max(1)
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
struct HomePage {
    f: Frame,
    payins: i64,
    paid: String,
    rate: String,
    refunds: i64,
    failed_webhooks: i64,
    days: Vec<Day>,
    max_label: String,
    /// The amount paid per day, as the polyline's points.
    line: String,
    max_amount: String,
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Support);
    // Thirty WIB days, today included.
    let today = (s.now.as_micros() / 1_000_000 + WIB_OFFSET_SECS).div_euclid(86_400);
    let first = today - 29;
    let since = Timestamp::from_micros(first * DAY_MICROS - WIB_OFFSET_SECS * 1_000_000);
    let scope = s.scope.clone();
    let read = state
        .app
        .store
        .read(move |tx| {
            let days = tx.daily_payins(&scope, since, WIB_OFFSET_SECS)?;
            let refunds = tx.refunds_since(&scope, since)?;
            let failed = tx.failed_deliveries_since(&scope, since)?;
            Ok::<_, StoreError>((days, refunds, failed))
        })
        .await;
    let (rows, refunds, failed_webhooks) = match read {
        Ok(r) => r,
        Err(e) => return failed(s.lang, e),
    };
    let (payins, succeeded, paid): (i64, i64, i64) =
        rows.iter().fold((0, 0, 0), |(a, b, c), r| (a + r.1, b + r.2, c + r.3));
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let most = rows.iter().map(|r| r.3).max().unwrap_or(0);
    let amount_of = |day: i64| rows.iter().find(|r| r.0 == day).map_or(0, |r| r.3);
    let line = (0..30)
        .map(|i| format!("{},{}", 17 + i * 20, amount_y(amount_of(first + i as i64), most)))
        .collect::<Vec<_>>()
        .join(" ");
    let currency = kasir_domain::Currency::Idr;
    let days = (0..30)
        .map(|i| {
            let day = first + i as i64;
            let (n, ok, amt) = rows.iter().find(|r| r.0 == day).map(|r| (r.1, r.2, r.3)).unwrap_or((0, 0, 0));
            let h = n * 100 / max;
            let at = Timestamp::from_micros(day * DAY_MICROS).civil(0);
            Day {
                x: 10 + i * 20,
                y: 110 - h,
                h,
                label: if i % 7 == 1 { format!("{}/{}", at.day, at.month) } else { String::new() },
                title: format!("{}/{}/{}: {n} · {ok} ✓ · {}", at.day, at.month, at.year, currency.display(amt)),
            }
        })
        .collect();
    let rate = match payins {
        0 => "–".to_string(),
        n => {
            let r = format!("{:.1}%", succeeded as f64 * 100.0 / n as f64);
            if s.lang == crate::pages::Lang::Id {
                r.replace('.', ",")
            } else {
                r
            }
        }
    };
    let p = HomePage {
        f: s.frame("home"),
        payins,
        paid: currency.display(paid),
        rate,
        refunds,
        failed_webhooks,
        days,
        max_label: max.to_string(),
        line,
        max_amount: currency.display(most),
    };
    show(StatusCode::OK, &p.f, &p, &[])
}

// ---- Lists ----

#[derive(Debug, Default, Deserialize, Clone)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

/// The start of a WIB day written `YYYY-MM-DD`.
fn wib_day(d: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(&format!("{}T00:00:00+07:00", d.trim()))
}

/// A search as the list's form gives it, or what is wrong with it.
fn search_of(q: &ListQuery, s: &Signed) -> Result<PayinSearch, String> {
    let mut out = PayinSearch::default();
    if !q.status.is_empty() {
        out.status = Some(PayinStatus::parse(&q.status).ok_or_else(|| format!("{} {:?}.", s.t.no_status, q.status))?);
    }
    let text = q.q.trim();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let phone_like = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like && digits.len() >= 8 {
        let national = digits.strip_prefix("62").or_else(|| digits.strip_prefix('0')).unwrap_or(&digits);
        out.phone_digits = Some(national.to_string());
    } else if !text.is_empty() {
        out.text = Some(text.to_string());
    }
    let bad_date = |d: &str| format!("{d:?} {}", s.t.not_a_date);
    if !q.from.is_empty() {
        out.from = Some(wib_day(&q.from).ok_or_else(|| bad_date(&q.from))?);
    }
    if !q.to.is_empty() {
        out.to = Some(wib_day(&q.to).ok_or_else(|| bad_date(&q.to))?.plus(std::time::Duration::from_secs(86_400)));
    }
    Ok(out)
}

struct PayinRow {
    id: String,
    created: String,
    status: &'static str,
    amount: String,
    reference: String,
    customer: String,
    phone: String,
}

#[derive(Template)]
#[template(path = "dashboard/payins.html")]
struct PayinsPage {
    f: Frame,
    q: ListQuery,
    statuses: Vec<&'static str>,
    rows: Vec<PayinRow>,
    next: String,
    csv: String,
}

fn query_string(q: &ListQuery, after: &str) -> String {
    let pairs = [("status", &q.status), ("q", &q.q), ("from", &q.from), ("to", &q.to)];
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        ser.append_pair(k, v);
    }
    if !after.is_empty() {
        ser.append_pair("after", after);
    }
    ser.finish()
}

async fn payins(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = open!(state, headers, Role::Support);
    let q = q.map(|q| q.0).unwrap_or_default();
    let mut f = s.frame("payins");
    let statuses = PayinStatus::ALL.iter().map(|s| s.as_str()).collect();
    let search = match search_of(&q, &s) {
        Ok(x) => x,
        Err(why) => {
            f.error = why;
            let p = PayinsPage { f, q, statuses, rows: Vec::new(), next: String::new(), csv: String::new() };
            return show(StatusCode::BAD_REQUEST, &p.f, &p, &[]);
        }
    };
    let page = PageRequest { limit: PAGE, starting_after: (!q.after.is_empty()).then(|| q.after.clone()) };
    let scope = s.scope.clone();
    let listed = match state.app.store.read(move |tx| tx.search_payins(&scope, &search, &page)).await {
        Ok(l) => l.unwrap_or(kasir_store::Page { data: Vec::new(), has_more: false }),
        Err(e) => return failed(s.lang, e),
    };
    let rows = listed
        .data
        .iter()
        .map(|p| PayinRow {
            id: p.id.clone(),
            created: when(&s, p.created_at),
            status: p.status.as_str(),
            amount: amount(p),
            reference: p.reference_id.clone(),
            customer: p.customer_details.as_ref().map(|c| c.email.clone()).unwrap_or_default(),
            phone: reports::masked_phone(p),
        })
        .collect();
    let next = match listed.data.last() {
        Some(last) if listed.has_more => format!("/dashboard/payins?{}", query_string(&q, &last.id)),
        _ => String::new(),
    };
    let csv = format!("/dashboard/payins.csv?{}", query_string(&q, ""));
    let p = PayinsPage { f, q, statuses, rows, next, csv };
    show(StatusCode::OK, &p.f, &p, &[])
}

/// The filtered list as CSV, every page of it, streamed as it is read.
async fn payins_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = open!(state, headers, Role::Support);
    let q = q.map(|q| q.0).unwrap_or_default();
    let search = match search_of(&q, &s) {
        Ok(x) => x,
        Err(why) => return message(StatusCode::BAD_REQUEST, s.lang, Some(&s), &why, &why),
    };
    let store = state.app.store.clone();
    let scope = s.scope.clone();
    let header_line = reports::csv_line(&PAYIN_COLUMNS);
    let stream = futures::stream::unfold(Some((None::<String>, true)), move |cursor| {
        let (store, scope, search, header_line) = (store.clone(), scope.clone(), search.clone(), header_line.clone());
        async move {
            let (after, first) = cursor?;
            let page = PageRequest { limit: 200, starting_after: after };
            let listed = store.read(move |tx| tx.search_payins(&scope, &search, &page)).await;
            let listed = match listed {
                Ok(Some(l)) => l,
                Ok(None) => return None,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let mut chunk = if first { header_line } else { String::new() };
            for p in &listed.data {
                chunk.push_str(&reports::csv_line(&reports::payin_row(p)));
            }
            let next = match listed.data.last() {
                Some(last) if listed.has_more => Some((Some(last.id.clone()), false)),
                _ => None,
            };
            Some((Ok::<_, std::io::Error>(chunk), next))
        }
    });
    let mode = s.scope.mode.as_str();
    let name = format!("attachment; filename=\"kasir-payins-{mode}.csv\"");
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

struct CheckoutRow {
    id: String,
    payin: String,
    created: String,
    status: &'static str,
    amount: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "dashboard/checkouts.html")]
struct CheckoutsPage {
    f: Frame,
    status: String,
    statuses: Vec<&'static str>,
    rows: Vec<CheckoutRow>,
    next: String,
}

async fn checkouts(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let s = open!(state, headers, Role::Support);
    let q = q.map(|q| q.0).unwrap_or_default();
    let statuses: Vec<&'static str> = CheckoutStatus::ALL.iter().map(|c| c.as_str()).collect();
    let status = CheckoutStatus::ALL.into_iter().find(|c| c.as_str() == q.status);
    let page = PageRequest { limit: PAGE, starting_after: (!q.after.is_empty()).then(|| q.after.clone()) };
    let scope = s.scope.clone();
    let listed = match state.app.store.read(move |tx| tx.list_checkouts(&scope, status, &page)).await {
        Ok(l) => l.unwrap_or(kasir_store::Page { data: Vec::new(), has_more: false }),
        Err(e) => return failed(s.lang, e),
    };
    let rows = listed
        .data
        .iter()
        .map(|c: &Checkout| CheckoutRow {
            id: c.id.clone(),
            payin: c.payin.clone(),
            created: when(&s, c.created_at),
            status: c.status.as_str(),
            amount: c.invoice_currency.display(c.amount),
            reference: c.reference_id.clone(),
        })
        .collect();
    let next = match listed.data.last() {
        Some(last) if listed.has_more => {
            format!(
                "/dashboard/checkouts?{}",
                query_string(&ListQuery { status: q.status.clone(), ..Default::default() }, &last.id)
            )
        }
        _ => String::new(),
    };
    let p = CheckoutsPage { f: s.frame("checkouts"), status: q.status, statuses, rows, next };
    show(StatusCode::OK, &p.f, &p, &[])
}

// ---- A payin ----

struct AttemptRow {
    id: String,
    created: String,
    status: &'static str,
    outcome: String,
    phone: String,
    reference: String,
    open: bool,
}

struct DeliveryRow {
    at: String,
    url: String,
    status: String,
    latency: String,
    error: String,
    ok: bool,
}

struct EventRow {
    id: String,
    kind: &'static str,
    at: String,
    deliveries: Vec<DeliveryRow>,
}

struct RefundRow {
    id: String,
    created: String,
    status: &'static str,
    amount: String,
    reason: String,
    description: String,
}

#[derive(Template)]
#[template(path = "dashboard/payin.html")]
struct PayinPage {
    f: Frame,
    id: String,
    status: &'static str,
    amount: String,
    paid: String,
    created: String,
    reference: String,
    customer: String,
    phone: String,
    description: String,
    webhook_url: String,
    checkout: String,
    attempts: Vec<AttemptRow>,
    events: Vec<EventRow>,
    refunds: Vec<RefundRow>,
    refundable: bool,
    sandbox: bool,
}

struct PayinView {
    payin: Payin,
    attempts: Vec<kasir_domain::PaymentAttempt>,
    refunds: Vec<kasir_domain::Refund>,
    checkout: Option<Checkout>,
    events: Vec<(Event, Vec<kasir_domain::Delivery>)>,
}

fn read_payin(tx: &mut dyn kasir_store::Tx, scope: &Scope, id: &str) -> Result<Option<PayinView>, StoreError> {
    let Some(payin) = tx.payin(scope, id)? else { return Ok(None) };
    let attempts = tx.attempts_of(scope, id)?;
    let refunds = tx.refunds_of(scope, id)?;
    let checkout = tx.checkout_of_payin(scope, id)?;
    let mut objects: Vec<String> = vec![payin.id.clone()];
    objects.extend(attempts.iter().map(|a| a.id.clone()));
    objects.extend(refunds.iter().map(|r| r.id.clone()));
    objects.extend(checkout.iter().map(|c| c.id.clone()));
    let mut events = Vec::new();
    for o in &objects {
        for e in tx.events_of(scope, o)? {
            let d = tx.deliveries_of(scope, &e.id)?;
            events.push((e, d));
        }
    }
    events.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
    Ok(Some(PayinView { payin, attempts, refunds, checkout, events }))
}

async fn payin_page(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = open!(state, headers, Role::Support);
    render_payin(&state, &s, &id, String::new(), String::new()).await
}

async fn render_payin(state: &AppState, s: &Signed, id: &str, notice: String, error: String) -> Response {
    let (scope, key) = (s.scope.clone(), id.to_string());
    let view = match state.app.store.read(move |tx| read_payin(tx, &scope, &key)).await {
        Ok(Some(v)) => v,
        Ok(None) => return message(StatusCode::NOT_FOUND, s.lang, Some(s), s.t.not_found, id),
        Err(e) => return failed(s.lang, e),
    };
    let p = &view.payin;
    let attempts = view
        .attempts
        .iter()
        .map(|a| AttemptRow {
            id: a.id.clone(),
            created: when(s, a.created_at),
            status: a.status.as_str(),
            outcome: match a.failure_reason() {
                Some(r) => format!("{}: {}", r.as_str(), a.status_description),
                None => a.status_description.clone(),
            },
            phone: a.payment_method_details.phone().map(kasir_domain::Phone::masked).unwrap_or_default(),
            reference: a
                .response
                .as_ref()
                .map(|r| format!("{} / {}", r.ovo_idr.batch_no, r.ovo_idr.reference_number))
                .unwrap_or_default(),
            open: !a.status.is_final(),
        })
        .collect();
    let events = view
        .events
        .iter()
        .map(|(e, ds)| EventRow {
            id: e.id.clone(),
            kind: e.kind.as_str(),
            at: when(s, e.created_at),
            deliveries: ds
                .iter()
                .map(|d| DeliveryRow {
                    at: when(s, d.attempted_at),
                    url: d.url.clone(),
                    status: d.http_status.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                    latency: format!("{} ms", d.latency_ms),
                    error: d.error.clone(),
                    ok: d.succeeded,
                })
                .collect(),
        })
        .collect();
    let refunds: Vec<RefundRow> = view
        .refunds
        .iter()
        .map(|r| RefundRow {
            id: r.id.clone(),
            created: when(s, r.created_at),
            status: r.status.as_str(),
            amount: r.currency.display(r.amount),
            reason: r.reason.clone(),
            description: r.status_description.clone(),
        })
        .collect();
    let refundable = p.status == PayinStatus::Succeeded
        && !view.refunds.iter().any(|r| r.status != kasir_domain::RefundStatus::Failed);
    let f = s.frame_with("payins", notice, error);
    let page = PayinPage {
        f,
        id: p.id.clone(),
        status: p.status.as_str(),
        amount: amount(p),
        paid: p.invoice_currency.display(p.amount_paid),
        created: when(s, p.created_at),
        reference: p.reference_id.clone(),
        customer: p.customer_details.as_ref().map(|c| format!("{} <{}>", c.name, c.email)).unwrap_or_default(),
        phone: reports::masked_phone(p),
        description: p.transaction_description.clone(),
        webhook_url: p.webhook_url.clone(),
        checkout: view.checkout.map(|c| c.id).unwrap_or_default(),
        attempts,
        events,
        refunds,
        refundable,
        sandbox: s.scope.mode == Mode::Test,
    };
    show(StatusCode::OK, &page.f, &page, &[])
}

// ---- Refunds ----

/// The reasons a refund is made for: (the form's value, the text that becomes the refund's `reason`,
/// its label in Indonesian).
pub(super) const REASONS: [(&str, &str, &str); 6] = [
    ("duplicate", "Duplicate payment", "Pembayaran ganda"),
    ("customer_request", "Customer request", "Permintaan pelanggan"),
    ("not_received", "Product not received", "Produk tidak diterima"),
    ("unavailable", "Product unavailable", "Produk tidak tersedia"),
    ("fraud", "Fraud", "Penipuan"),
    ("other", "Other", "Lainnya"),
];

struct ReasonOption {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/refund.html")]
struct RefundPage {
    f: Frame,
    id: String,
    amount: String,
    reasons: Vec<ReasonOption>,
    chosen: String,
    remarks: String,
    token: String,
}

fn refund_form(s: &Signed, p: &Payin, chosen: &str, remarks: &str, error: String) -> Response {
    let en = s.lang == crate::pages::Lang::En;
    let mut f = s.frame("payins");
    f.error = error;
    let page = RefundPage {
        f,
        id: p.id.clone(),
        amount: amount(p),
        reasons: REASONS.iter().map(|(v, e, i)| ReasonOption { value: v, label: if en { e } else { i } }).collect(),
        chosen: chosen.into(),
        remarks: remarks.into(),
        token: kasir_app::sessions::token(),
    };
    show(StatusCode::OK, &page.f, &page, &[])
}

async fn load_payin(state: &AppState, s: &Signed, id: &str) -> Result<Payin, Response> {
    let (scope, key) = (s.scope.clone(), id.to_string());
    match state.app.store.read(move |tx| tx.payin(&scope, &key)).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(message(StatusCode::NOT_FOUND, s.lang, Some(s), s.t.not_found, id)),
        Err(e) => Err(failed(s.lang, e)),
    }
}

async fn refund_page(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = open!(state, headers, Role::Support);
    match load_payin(&state, &s, &id).await {
        Ok(p) => refund_form(&s, &p, "", "", String::new()),
        Err(r) => r,
    }
}

#[derive(Debug, Default, Deserialize)]
struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    remarks: String,
    /// Made with the form: a second press of the same form makes no second refund.
    #[serde(default)]
    token: String,
}

async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<RefundForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Support);
    let payin = match load_payin(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some((_, text, _)) = REASONS.iter().find(|(v, _, _)| *v == form.reason) else {
        return refund_form(&s, &payin, "", &form.remarks, s.t.choose_reason.into());
    };
    let remarks = form.remarks.trim();
    if form.reason == "other" && remarks.is_empty() {
        return refund_form(&s, &payin, &form.reason, "", s.t.other_needs_remarks.into());
    }
    let reason = if remarks.is_empty() { text.to_string() } else { format!("{text}: {remarks}") };
    if reason.chars().count() > 255 || form.token.len() != 64 {
        let why = if form.token.len() != 64 { s.t.bad_form } else { s.t.remarks_too_long };
        return refund_form(&s, &payin, &form.reason, remarks, why.into());
    }
    let (actor, account, token, pid) =
        (s.user.email.clone(), s.user.account_id.clone(), form.token.clone(), id.clone());
    let claim_key = format!("dashboard:{}", s.user.id);
    let made = state
        .app
        .write(s.scope.clone(), move |tx, ctx| {
            // The form's token, claimed in the refund's own transaction: a double press finds it taken.
            let rec = IdemRecord {
                request_hash: pid.clone(),
                state: IdemState::Done,
                response_status: 303,
                response_body: Vec::new(),
                created_at: ctx.now,
                locked_until: ctx.now,
            };
            if !tx.idem_insert(&claim_key, &token, &rec)? {
                return Ok(None);
            }
            let req = CreateRefund {
                payin_id: Some(pid.clone()),
                attempt_id: None,
                request: RefundRequest { reason: reason.clone(), ..Default::default() },
            };
            let r = refunds::create(tx, ctx, req)?;
            audit(tx, &account, &actor, "refund.created", format!("{} of {} ({})", r.id, pid, reason), ctx.now)?;
            Ok::<_, AppError>(Some(r))
        })
        .await;
    match made {
        Ok(_) => see(&format!("/dashboard/payins/{id}?refunded=1")),
        Err(AppError::Domain(e)) => {
            let why = super::why(&e);
            refund_form(&s, &payin, &form.reason, remarks, why)
        }
        Err(e) => failed(s.lang, e),
    }
}

async fn resend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<PayinBack>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Support);
    let (actor, account) = (s.user.email.clone(), s.user.account_id.clone());
    let done = state
        .app
        .write(s.scope.clone(), move |tx, ctx| {
            let e = outbox::resend(tx, &ctx.scope, &id, ctx.now)?;
            audit(tx, &account, &actor, "event.resent", e.id.clone(), ctx.now)?;
            Ok::<_, AppError>(e)
        })
        .await;
    match done {
        Ok(_) => render_payin(&state, &s, &form.payin, s.t.resent.into(), String::new()).await,
        Err(AppError::Domain(e)) => {
            let why = super::why(&e);
            render_payin(&state, &s, &form.payin, String::new(), why).await
        }
        Err(e) => failed(s.lang, e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct PayinBack {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    payin: String,
}

/// The sandbox controls on a test payin's page: its open attempt succeeds or fails now.
async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, outcome)): Path<(String, String)>,
    form: Result<Form<PayinBack>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Support);
    let what = match outcome.as_str() {
        "succeed" => Resolve::Attempt(Outcome::Succeeded),
        "fail" => Resolve::Attempt(Outcome::Failed(kasir_domain::FailureReason::Declined)),
        _ => return message(StatusCode::NOT_FOUND, s.lang, Some(&s), s.t.not_found, &outcome),
    };
    let (actor, account) = (s.user.email.clone(), s.user.account_id.clone());
    let done = state
        .app
        .write(s.scope.clone(), move |tx, ctx| {
            let r = sandbox::resolve(tx, ctx, &id, what)?;
            audit(tx, &account, &actor, "sandbox.resolved", format!("{id} {outcome}"), ctx.now)?;
            Ok::<_, AppError>(r)
        })
        .await;
    match done {
        Ok(_) => see(&format!("/dashboard/payins/{}", form.payin)),
        Err(AppError::Domain(e)) => {
            let why = super::why(&e);
            render_payin(&state, &s, &form.payin, String::new(), why).await
        }
        Err(e) => failed(s.lang, e),
    }
}

// ---- Manual transfers ----

struct TransferRow {
    id: String,
    payin: String,
    created: String,
    amount: String,
    why: String,
}

#[derive(Template)]
#[template(path = "dashboard/transfers.html")]
struct TransfersPage {
    f: Frame,
    rows: Vec<TransferRow>,
}

async fn transfers(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Support);
    transfers_page(&state, &s, String::new(), String::new()).await
}

async fn transfers_page(state: &AppState, s: &Signed, notice: String, error: String) -> Response {
    let scope = s.scope.clone();
    let waiting = match state.app.store.read(move |tx| refunds::awaiting_transfer_in(tx, &scope)).await {
        Ok(w) => w,
        Err(e) => return failed(s.lang, e),
    };
    let rows = waiting
        .into_iter()
        .map(|r| TransferRow {
            id: r.id.clone(),
            payin: r.payin.clone(),
            created: when(s, r.created_at),
            amount: r.currency.display(r.amount),
            why: r.status_description.clone(),
        })
        .collect();
    let f = s.frame_with("transfers", notice, error);
    let p = TransfersPage { f, rows };
    show(StatusCode::OK, &p.f, &p, &[])
}

#[derive(Debug, Default, Deserialize)]
struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    failure: String,
}

async fn finish_transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<TransferForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Support);
    let (reference, failure) = (form.reference.trim().to_string(), form.failure.trim().to_string());
    if reference.is_empty() == failure.is_empty() || reference.len() > 200 || failure.len() > 200 {
        return transfers_page(&state, &s, String::new(), s.t.transfer_one_of.into()).await;
    }
    // Only a refund of this account and mode.
    let (scope, key) = (s.scope.clone(), id.clone());
    match state.app.store.read(move |tx| tx.refund(&scope, &key)).await {
        Ok(Some(_)) => {}
        Ok(None) => return message(StatusCode::NOT_FOUND, s.lang, Some(&s), s.t.not_found, &id),
        Err(e) => return failed(s.lang, e),
    }
    let (actor, account) = (s.user.email.clone(), s.user.account_id.clone());
    let done = state
        .app
        .write(s.scope.clone(), move |tx, ctx| {
            let result = if reference.is_empty() { Err(failure.as_str()) } else { Ok(reference.as_str()) };
            let r = refunds::finish_transfer(tx, &id, result, ctx.now)?;
            let detail = format!("{} {}", r.id, r.status_description);
            audit(tx, &account, &actor, "refund.manual_transfer", detail, ctx.now)?;
            Ok::<_, AppError>(r)
        })
        .await;
    match done {
        Ok(r) => transfers_page(&state, &s, format!("{}: {}", r.id, r.status.as_str()), String::new()).await,
        Err(AppError::Domain(e)) => {
            let why = super::why(&e);
            transfers_page(&state, &s, String::new(), why).await
        }
        Err(e) => failed(s.lang, e),
    }
}
