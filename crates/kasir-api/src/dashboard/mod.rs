//! The merchant dashboard at `/dashboard`: the people of a merchant's account (support, finance,
//! developers, owners) find a payment, see what happened to it, refund it, check that its webhook
//! arrived, and manage keys, webhooks and the team. Server-rendered like the hosted pages, with the
//! same headers (CSP with a nonce, no framing), every form carrying its session's CSRF token.
//!
//! Layout: this file holds signing in and out, the session every other page opens, and what every
//! page shares; `payments.rs` (home, lists, CSV, a payin's page, refunds, manual transfers),
//! `developers.rs` (keys, webhooks, endpoints, deliveries), `team.rs` (users, audit log, one's own
//! account and two-factor sign-in); `text.rs` the words.

mod developers;
mod payments;
mod team;
mod text;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use kasir_app::users::{self, LoginError, Role};
use kasir_app::{sessions, totp};
use kasir_domain::{Mode, Timestamp};
use kasir_store::{Scope, SessionRecord, UserRecord};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::pages::render::{html, wib, with_cookies};
use crate::pages::{cookie, csrf, same_origin, Lang, CSRF_COOKIE};
use crate::AppState;
pub use text::DashText;

const SESSION_COOKIE: &str = "kasir_session";
const CSS: &str = include_str!("dashboard.css");

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/login", get(login_page).post(login))
        .route("/dashboard/login/2fa", get(second_factor_page).post(second_factor))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/mode", post(switch_mode))
        .merge(payments::routes())
        .merge(developers::routes())
        .merge(team::routes())
        .layer(axum::middleware::from_fn(switch_language))
}

/// The language switch on every page (`?lang=en`): remembered in a cookie, then the same page without it.
async fn switch_language(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let query = req.uri().query().unwrap_or("");
    let asked = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned());
    let Some(lang) = asked.as_deref().and_then(Lang::parse) else { return next.run(req).await };
    let rest: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).into_owned().filter(|(k, _)| k != "lang").collect();
    let mut to = req.uri().path().to_string();
    if !rest.is_empty() {
        to.push('?');
        to.push_str(&url::form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish());
    }
    with_cookies(see(&to), &[crate::pages::lang_cookie(lang)])
}

/// The route templates of the dashboard, for metrics.
pub const ROUTES: &[&str] = &[
    "/dashboard",
    "/dashboard/login",
    "/dashboard/login/2fa",
    "/dashboard/logout",
    "/dashboard/mode",
    "/dashboard/payins",
    "/dashboard/payins.csv",
    "/dashboard/checkouts",
    "/dashboard/payins/{id}",
    "/dashboard/payins/{id}/refund",
    "/dashboard/events/{id}/resend",
    "/dashboard/attempts/{id}/{outcome}",
    "/dashboard/transfers",
    "/dashboard/transfers/{id}",
    "/dashboard/keys",
    "/dashboard/keys/{id}/revoke",
    "/dashboard/webhooks",
    "/dashboard/webhooks/reveal",
    "/dashboard/webhooks/rotate",
    "/dashboard/webhooks/events",
    "/dashboard/webhooks/endpoints",
    "/dashboard/webhooks/endpoints/{id}",
    "/dashboard/deliveries",
    "/dashboard/team",
    "/dashboard/team/users",
    "/dashboard/team/users/{id}",
    "/dashboard/account",
    "/dashboard/account/password",
    "/dashboard/account/2fa",
];

/// A signed-in request: who, in which language, on which data.
pub(crate) struct Signed {
    pub user: UserRecord,
    pub role: Role,
    pub session: SessionRecord,
    pub lang: Lang,
    pub t: &'static DashText,
    pub scope: Scope,
    pub now: Timestamp,
}

impl Signed {
    /// What every page of this session shows around its content.
    pub fn frame(&self, nav: &'static str) -> Frame {
        Frame::new(self.lang, nav, Some(self))
    }

    /// The frame of a page that says what a form did (`notice`) or what was wrong with it (`error`).
    pub fn frame_with(&self, nav: &'static str, notice: String, error: String) -> Frame {
        Frame { notice, error, ..self.frame(nav) }
    }
}

/// What every dashboard page shows and is sent with.
pub(crate) struct Frame {
    pub lang_code: &'static str,
    pub other_lang: &'static str,
    pub t: &'static DashText,
    pub nonce: String,
    pub css: &'static str,
    /// The page's place in the navigation.
    pub nav: &'static str,
    pub signed_in: bool,
    pub email: String,
    pub role: &'static str,
    pub developer: bool,
    pub owner: bool,
    pub live: bool,
    pub csrf: String,
    /// A line of good news (done) or bad (refused) above the content.
    pub notice: String,
    pub error: String,
}

impl Frame {
    fn new(lang: Lang, nav: &'static str, s: Option<&Signed>) -> Frame {
        Frame {
            lang_code: lang.code(),
            other_lang: lang.other().code(),
            t: DashText::of(lang),
            nonce: crate::pages::render::nonce(),
            css: CSS,
            nav,
            signed_in: s.is_some(),
            email: s.map(|s| s.user.email.clone()).unwrap_or_default(),
            role: s.map(|s| s.role.as_str()).unwrap_or(""),
            developer: s.is_some_and(|s| s.role.allows(Role::Developer)),
            owner: s.is_some_and(|s| s.role.allows(Role::Owner)),
            live: s.is_some_and(|s| s.session.live),
            csrf: s.map(|s| s.session.csrf.clone()).unwrap_or_default(),
            notice: String::new(),
            error: String::new(),
        }
    }
}

/// Renders a dashboard page. A page that says what was wrong with a form answers 400.
pub(crate) fn show<T: Template>(status: StatusCode, frame: &Frame, page: &T, cookies: &[String]) -> Response {
    let status = if status == StatusCode::OK && !frame.error.is_empty() { StatusCode::BAD_REQUEST } else { status };
    match page.render() {
        Ok(body) => html(status, body, &frame.nonce, cookies),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
pub(crate) struct MessagePage {
    pub f: Frame,
    pub title: String,
    pub body: String,
}

/// A page that only says something (refused, not found, busy).
pub(crate) fn message(status: StatusCode, lang: Lang, s: Option<&Signed>, title: &str, body: &str) -> Response {
    let f = Frame::new(lang, "", s);
    let p = MessagePage { title: title.into(), body: body.into(), f };
    show(status, &p.f, &p, &[])
}

pub(crate) fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The language of a dashboard page: the browser's choice (the `kasir_lang` cookie that `?lang=` sets,
/// `Accept-Language`), else Indonesian.
pub(crate) fn language(headers: &HeaderMap) -> Lang {
    crate::pages::preferred_language(headers)
}

fn busy(lang: Lang) -> Response {
    let t = DashText::of(lang);
    let mut r = message(StatusCode::SERVICE_UNAVAILABLE, lang, None, t.busy, t.busy);
    r.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
    r
}

/// Logs a store error and answers busy.
pub(crate) fn failed(lang: Lang, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "a dashboard page could not be served");
    busy(lang)
}

/// The session cookie: `Secure` when the pages are served over https.
pub(crate) fn session_cookie(state: &AppState, token: &str, max_age: Option<u64>) -> String {
    let secure = if state.app.pages.starts_with("https://") { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{SESSION_COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Lax{secure}{age}")
}

/// Opens the session a request carries, for a page `needed` may see: otherwise the sign-in page (no
/// session, or one that has ended), the second factor, the password change a one-time password
/// requires, or a refusal for the role.
pub(crate) async fn signed(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<Signed, Response> {
    signed_for(state, headers, needed, false).await
}

pub(crate) async fn signed_for(
    state: &AppState,
    headers: &HeaderMap,
    needed: Role,
    password_page: bool,
) -> Result<Signed, Response> {
    let lang = language(headers);
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Err(see("/dashboard/login")) };
    let now = state.app.clock.now();
    let t = token.clone();
    let found = state.app.store.read(move |tx| sessions::find(tx, &t, now)).await.map_err(|e| failed(lang, e))?;
    let Some((session, user, touch)) = found else { return Err(see("/dashboard/login?ended=1")) };
    if session.awaiting_totp {
        return Err(see("/dashboard/login/2fa"));
    }
    if user.must_change_password && !password_page {
        return Err(see("/dashboard/account"));
    }
    if touch {
        let id = session.id_hash.clone();
        state.app.store.write(move |tx| sessions::touch(tx, &id, now)).await.map_err(|e| failed(lang, e))?;
    }
    let role = Role::parse(&user.role).unwrap_or(Role::Support);
    let mode = if session.live { Mode::Live } else { Mode::Test };
    let scope = Scope { account_id: user.account_id.clone(), mode };
    let s = Signed { role, lang, t: DashText::of(lang), scope, now, user, session };
    if !role.allows(needed) {
        return Err(message(StatusCode::FORBIDDEN, lang, Some(&s), s.t.forbidden, s.t.forbidden));
    }
    Ok(s)
}

/// As [`signed`], for a form's post: its CSRF token must be the session's, and it must come from a page
/// of Kasir's. The role is checked on the post itself, not only on the page that shows the form.
pub(crate) async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    needed: Role,
) -> Result<Signed, Response> {
    let s = signed(state, headers, needed).await?;
    if !csrf_ok(state, headers, &s, token) {
        return Err(bad_form(&s));
    }
    Ok(s)
}

/// Whether a post carries its session's CSRF token and comes from a page of Kasir's.
pub(crate) fn csrf_ok(state: &AppState, headers: &HeaderMap, s: &Signed, token: &str) -> bool {
    same_origin(state, headers) && bool::from(token.as_bytes().ct_eq(s.session.csrf.as_bytes()))
}

/// The answer to a post whose CSRF token is missing or wrong.
pub(crate) fn bad_form(s: &Signed) -> Response {
    message(StatusCode::FORBIDDEN, s.lang, Some(s), s.t.bad_form, s.t.bad_form)
}

/// The password asked again before a secret is shown or a key made: `None` when it is the signed-in
/// user's, else what the page says. A wrong one counts as a failed sign-in; a locked user is refused.
pub(crate) async fn password_refused(state: &AppState, s: &Signed, password: &str) -> Option<String> {
    let (id, now, given) = (s.user.id.clone(), s.now, password.to_string());
    match state.app.store.write(move |tx| users::confirm_password(tx, &id, &given, now)).await {
        Ok(Ok(())) => None,
        Ok(Err(LoginError::Locked(until))) => Some(format!("{} {}.", s.t.locked, wib(until, s.lang.text(), s.lang))),
        Ok(Err(_)) => Some(s.t.wrong_password_again.into()),
        Err(e) => {
            tracing::warn!(error = %e, "a password could not be checked");
            Some(s.t.busy.into())
        }
    }
}

/// What a refusal says, for the page: every field's message.
pub(crate) fn why(e: &kasir_domain::DomainError) -> String {
    use kasir_domain::DomainError as D;
    match e {
        D::Invalid(fs) => fs.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "),
        D::NotFound(f) | D::Conflict(f) => f.message.clone(),
    }
}

/// Writes an audit line for a change made in the dashboard.
pub(crate) fn audit(
    tx: &mut dyn kasir_store::Tx,
    s_account: &str,
    actor: &str,
    action: &str,
    detail: String,
    at: Timestamp,
) -> Result<(), kasir_store::StoreError> {
    tx.insert_audit(&kasir_store::AuditRecord {
        account_id: s_account.into(),
        actor: actor.into(),
        action: action.into(),
        detail,
        at,
    })
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    f: Frame,
    csrf: String,
    email: String,
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    ended: Option<String>,
    out: Option<String>,
}

async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let mut cookies = Vec::new();
    let lang = language(&headers);
    let mut f = Frame::new(lang, "login", None);
    if q.ended.is_some() {
        f.notice = f.t.expired.into();
    }
    if q.out.is_some() {
        f.notice = f.t.signed_out.into();
    }
    let p = LoginPage { csrf: csrf(&headers, &mut cookies), email: String::new(), f };
    show(StatusCode::OK, &p.f, &p, &cookies)
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The sign-in form's CSRF check: the double-submit cookie (there is no session yet).
fn login_csrf_ok(state: &AppState, headers: &HeaderMap, given: &str) -> bool {
    let Some(c) = cookie(headers, CSRF_COOKIE) else { return false };
    same_origin(state, headers) && !given.is_empty() && bool::from(c.as_bytes().ct_eq(given.as_bytes()))
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let mut cookies = Vec::new();
    let lang = language(&headers);
    let form = form.map(|f| f.0).unwrap_or_default();
    let refuse = |status: StatusCode, error: String, cookies: &mut Vec<String>| {
        let mut f = Frame::new(lang, "login", None);
        f.error = error;
        let p = LoginPage { csrf: csrf(&headers, cookies), email: form.email.clone(), f };
        show(status, &p.f, &p, cookies)
    };
    let t = DashText::of(lang);
    if !login_csrf_ok(&state, &headers, &form.csrf) {
        return refuse(StatusCode::FORBIDDEN, t.bad_form.into(), &mut cookies);
    }
    let now = state.app.clock.now();
    let old = cookie(&headers, SESSION_COOKIE);
    let (email, password) = (form.email.clone(), form.password.clone());
    let outcome = state
        .app
        .store
        .write(move |tx| {
            if let Some(old) = &old {
                sessions::end(tx, old)?;
            }
            let user = match users::authenticate(tx, &email, &password, now)? {
                Ok(u) => u,
                Err(e) => return Ok(Err(e)),
            };
            let two_factor = user.totp_secret.is_some();
            let token = sessions::start(tx, &user, two_factor, now)?;
            if !two_factor {
                audit(tx, &user.account_id, &user.email, "user.signed_in", String::new(), now)?;
            }
            Ok::<_, kasir_store::StoreError>(Ok((token, two_factor)))
        })
        .await;
    match outcome {
        Err(e) => failed(lang, e),
        Ok(Err(LoginError::Locked(until))) => {
            let msg = format!("{} {}.", t.locked, wib(until, lang.text(), lang));
            refuse(StatusCode::TOO_MANY_REQUESTS, msg, &mut cookies)
        }
        Ok(Err(_)) => refuse(StatusCode::UNAUTHORIZED, t.wrong_login.into(), &mut cookies),
        Ok(Ok((token, two_factor))) => {
            cookies.push(session_cookie(&state, &token, None));
            let to = if two_factor { "/dashboard/login/2fa" } else { "/dashboard" };
            with_cookies(see(to), &cookies)
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/second_factor.html")]
struct SecondFactorPage {
    f: Frame,
    csrf: String,
}

/// The session waiting for its second factor, or the answer instead.
async fn waiting_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(SessionRecord, UserRecord, String), Response> {
    let lang = language(headers);
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Err(see("/dashboard/login")) };
    let now = state.app.clock.now();
    let t = token.clone();
    match state.app.store.read(move |tx| sessions::find(tx, &t, now)).await {
        Err(e) => Err(failed(lang, e)),
        Ok(None) => Err(see("/dashboard/login?ended=1")),
        Ok(Some((s, _, _))) if !s.awaiting_totp => Err(see("/dashboard")),
        Ok(Some((s, u, _))) => Ok((s, u, token)),
    }
}

async fn second_factor_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (s, _, _) = match waiting_session(&state, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = language(&headers);
    let p = SecondFactorPage { f: Frame::new(lang, "login", None), csrf: s.csrf };
    show(StatusCode::OK, &p.f, &p, &[])
}

#[derive(Debug, Default, Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (session, user, token) = match waiting_session(&state, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let lang = language(&headers);
    let t = DashText::of(lang);
    let form = form.map(|f| f.0).unwrap_or_default();
    if !same_origin(&state, &headers) || !bool::from(form.csrf.as_bytes().ct_eq(session.csrf.as_bytes())) {
        return message(StatusCode::FORBIDDEN, lang, None, t.bad_form, t.bad_form);
    }
    let now = state.app.clock.now();
    let code = form.code.clone();
    // A wrong code counts as a failed sign-in (five lock the user, as wrong passwords do), and a locked
    // user is refused whatever they enter.
    let outcome = state
        .app
        .store
        .write(move |tx| {
            if let Err(refused) = totp::check(tx, &user.id, &code, now)? {
                return Ok(Err(refused));
            }
            sessions::end(tx, &token)?;
            let fresh = sessions::start(tx, &user, false, now)?;
            audit(tx, &user.account_id, &user.email, "user.signed_in", "with two-step verification".into(), now)?;
            Ok::<_, users::UserError>(Ok(fresh))
        })
        .await;
    let refuse = |status: StatusCode, error: String| {
        let mut f = Frame::new(lang, "login", None);
        f.error = error;
        let p = SecondFactorPage { f, csrf: session.csrf.clone() };
        show(status, &p.f, &p, &[])
    };
    match outcome {
        Err(e) => failed(lang, e),
        Ok(Ok(fresh)) => with_cookies(see("/dashboard"), &[session_cookie(&state, &fresh, None)]),
        Ok(Err(LoginError::Locked(until))) => {
            refuse(StatusCode::TOO_MANY_REQUESTS, format!("{} {}.", t.locked, wib(until, lang.text(), lang)))
        }
        Ok(Err(_)) => refuse(StatusCode::UNAUTHORIZED, t.wrong_code.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|f| f.0).unwrap_or_default();
    let s = match posted(&state, &headers, &form.csrf, Role::Support).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(token) = cookie(&headers, SESSION_COOKIE) else { return see("/dashboard/login") };
    let (account, actor, now) = (s.user.account_id.clone(), s.user.email.clone(), s.now);
    let done = state
        .app
        .store
        .write(move |tx| {
            sessions::end(tx, &token)?;
            audit(tx, &account, &actor, "user.signed_out", String::new(), now)
        })
        .await;
    if let Err(e) = done {
        return failed(s.lang, e);
    }
    with_cookies(see("/dashboard/login?out=1"), &[session_cookie(&state, "", Some(0))])
}

#[derive(Debug, Default, Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    live: String,
    #[serde(default)]
    back: String,
}

/// The test/live switch, kept on the session.
async fn switch_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ModeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|f| f.0).unwrap_or_default();
    let s = match posted(&state, &headers, &form.csrf, Role::Support).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (id, live, now) = (s.session.id_hash.clone(), form.live == "1", s.now);
    if let Err(e) = state.app.store.write(move |tx| sessions::set_live(tx, &id, live, now)).await {
        return failed(s.lang, e);
    }
    // Back to a list (an object of one mode is not in the other).
    let back = match form.back.as_str() {
        b @ ("/dashboard/payins"
        | "/dashboard/checkouts"
        | "/dashboard/transfers"
        | "/dashboard/keys"
        | "/dashboard/webhooks"
        | "/dashboard/deliveries") => b,
        _ => "/dashboard",
    };
    see(back)
}
