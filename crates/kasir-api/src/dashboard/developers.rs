//! The developers' pages (developer and owner roles): API keys, the webhook signing secret, the
//! account's event-type switches and webhook endpoints, and the log of recent deliveries. A secret is
//! shown only on the answer to a form that asked for the password again.

use askama::Template;
use axum::extract::{Path, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use kasir_app::endpoints::{self, EndpointFields};
use kasir_app::keys::KeyPair;
use kasir_app::users::Role;
use kasir_app::{accounts, AppError};
use kasir_domain::{EndpointStatus, EventType, Mode};
use kasir_store::StoreError;
use serde::Deserialize;

use super::payments::{form_or_default, open, post_open};
use super::{audit, failed, message, password_refused, posted, show, signed, Frame, Signed};
use crate::pages::render::wib;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/keys", get(keys).post(create_key))
        .route("/dashboard/keys/{id}/revoke", post(revoke_key))
        .route("/dashboard/webhooks", get(webhooks))
        .route("/dashboard/webhooks/reveal", post(secret::<false>))
        .route("/dashboard/webhooks/rotate", post(secret::<true>))
        .route("/dashboard/webhooks/events", post(set_events))
        .route("/dashboard/webhooks/endpoints", post(add_endpoint))
        .route("/dashboard/webhooks/endpoints/{id}", post(change_endpoint))
        .route("/dashboard/deliveries", get(deliveries))
}

// ---- Keys ----

struct KeyRow {
    access_key: String,
    mode: &'static str,
    created: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    f: Frame,
    rows: Vec<KeyRow>,
    /// A key just made: its pair, shown this once.
    made: Option<(String, String)>,
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Developer);
    keys_page(&state, &s, None, String::new(), String::new()).await
}

async fn keys_page(
    state: &AppState,
    s: &Signed,
    made: Option<(String, String)>,
    notice: String,
    error: String,
) -> Response {
    let account = s.user.account_id.clone();
    let all = match state.app.store.read(move |tx| tx.keys()).await {
        Ok(k) => k,
        Err(e) => return failed(s.lang, e),
    };
    let rows = all
        .into_iter()
        .filter(|k| k.account_id == account)
        .map(|k| KeyRow {
            access_key: k.access_key,
            mode: k.mode.as_str(),
            created: wib(k.created_at, s.lang.text(), s.lang),
            revoked: k.revoked_at.map(|t| wib(t, s.lang.text(), s.lang)).unwrap_or_default(),
        })
        .collect();
    let f = s.frame_with("keys", notice, error);
    let p = KeysPage { f, rows, made };
    show(StatusCode::OK, &p.f, &p, &[])
}

#[derive(Debug, Default, Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    password: String,
}

async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<KeyForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Developer);
    let Some(mode) = Mode::parse(&form.mode) else {
        return keys_page(&state, &s, None, String::new(), s.t.choose_mode.into()).await;
    };
    if let Some(why) = password_refused(&state, &s, &form.password).await {
        return keys_page(&state, &s, None, String::new(), why).await;
    }
    let pair = KeyPair::generate(mode);
    let (p, account, actor, now) = (pair.clone(), s.user.account_id.clone(), s.user.email.clone(), s.now);
    let done = state
        .app
        .store
        .write(move |tx| {
            accounts::add_key(tx, &p, &account, now)?;
            audit(tx, &account, &actor, "key.created", format!("{} ({})", p.access_key, p.mode.as_str()), now)
        })
        .await;
    match done {
        Ok(()) => keys_page(&state, &s, Some((pair.access_key, pair.secret_key)), String::new(), String::new()).await,
        Err(e) => failed(s.lang, e),
    }
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<super::CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Developer);
    let (account, actor, now, key) = (s.user.account_id.clone(), s.user.email.clone(), s.now, id.clone());
    let done = state
        .app
        .store
        .write(move |tx| {
            // Only a key of the user's own account.
            match tx.key(&key)? {
                Some(k) if k.account_id == account => {}
                _ => return Ok(None),
            }
            accounts::revoke_key(tx, &key, &actor, now).map(Some)
        })
        .await;
    match done {
        Ok(Some(k)) => {
            keys_page(&state, &s, None, format!("{} {}", k.access_key, s.t.revoked.to_lowercase()), String::new()).await
        }
        Ok(None) => message(StatusCode::NOT_FOUND, s.lang, Some(&s), s.t.not_found, &id),
        Err(accounts::AccountError::NoSuchKey(k)) => {
            keys_page(&state, &s, None, String::new(), format!("{k}: {}", s.t.revoked)).await
        }
        Err(e) => failed(s.lang, e),
    }
}

// ---- Webhooks ----

struct Switch {
    name: &'static str,
    on: bool,
}

struct EndpointRow {
    id: String,
    url: String,
    events: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
struct WebhooksPage {
    f: Frame,
    /// The secret, only on the answer to a reveal or a rotation.
    secret: String,
    switches: Vec<Switch>,
    endpoints: Vec<EndpointRow>,
    url: String,
    events: String,
}

async fn webhooks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Developer);
    webhooks_page(&state, &s, String::new(), String::new(), String::new(), (String::new(), "*".into())).await
}

async fn webhooks_page(
    state: &AppState,
    s: &Signed,
    secret: String,
    notice: String,
    error: String,
    given: (String, String),
) -> Response {
    let (account, scope) = (s.user.account_id.clone(), s.scope.clone());
    let read = state
        .app
        .store
        .read(move |tx| Ok::<_, StoreError>((accounts::event_switches(tx, &account)?, tx.endpoints(&scope)?)))
        .await;
    let (switches, eps) = match read {
        Ok(r) => r,
        Err(e) => return failed(s.lang, e),
    };
    let f = s.frame_with("webhooks", notice, error);
    let p = WebhooksPage {
        f,
        secret,
        switches: EventType::ALL.iter().map(|k| Switch { name: k.as_str(), on: switches.is_on(*k) }).collect(),
        endpoints: eps
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id,
                url: e.url,
                events: e.enabled_events.join(", "),
                enabled: e.status == EndpointStatus::Enabled,
            })
            .collect(),
        url: given.0,
        events: given.1,
    };
    show(StatusCode::OK, &p.f, &p, &[])
}

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

fn blank() -> (String, String) {
    (String::new(), "*".into())
}

/// The signing secret, shown on this answer only: as it is (`ROTATE` false) or a new one (true; the old
/// one signs beside it for 24 hours). Both ask for the password again.
async fn secret<const ROTATE: bool>(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Developer);
    if let Some(why) = password_refused(&state, &s, &form.password).await {
        return webhooks_page(&state, &s, String::new(), String::new(), why, blank()).await;
    }
    let (account, actor, now) = (s.user.account_id.clone(), s.user.email.clone(), s.now);
    let secret = state
        .app
        .store
        .write(move |tx| {
            let (secret, action, detail) = if ROTATE {
                let hours = accounts::SECRET_OVERLAP.as_secs() / 3600;
                let overlap = format!("the previous secret signs beside it for {hours} hours");
                (accounts::rotate_secret(tx, &account, now)?, "webhook_secret.rotated", overlap)
            } else {
                (accounts::signing_secrets(tx, &account, now)?.remove(0), "webhook_secret.revealed", String::new())
            };
            audit(tx, &account, &actor, action, detail, now)?;
            Ok::<_, StoreError>(secret)
        })
        .await;
    let notice = if ROTATE { s.t.saved.to_string() } else { String::new() };
    match secret {
        Ok(secret) => webhooks_page(&state, &s, secret, notice, String::new(), blank()).await,
        Err(e) => failed(s.lang, e),
    }
}

/// A form's fields, every value of each (checkboxes repeat a name).
fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

async fn set_events(State(state): State<AppState>, headers: HeaderMap, RawForm(raw): RawForm) -> Response {
    let p = pairs(&raw);
    let s = post_open!(state, headers, field(&p, "csrf"), Role::Developer);
    let on: Vec<EventType> = p.iter().filter(|(k, _)| k == "on").filter_map(|(_, v)| EventType::parse(v)).collect();
    let (account, actor, now) = (s.user.account_id.clone(), s.user.email.clone(), s.now);
    let done = state
        .app
        .store
        .write(move |tx| {
            let mut changed = Vec::new();
            let before = accounts::event_switches(tx, &account)?;
            for kind in EventType::ALL {
                let want = on.contains(&kind);
                if before.is_on(kind) != want {
                    accounts::set_event_type(tx, &account, kind, want)?;
                    changed.push(format!("{} {}", kind.as_str(), if want { "on" } else { "off" }));
                }
            }
            if !changed.is_empty() {
                audit(tx, &account, &actor, "event_types.changed", changed.join(", "), now)?;
            }
            Ok::<_, StoreError>(())
        })
        .await;
    match done {
        Ok(()) => webhooks_page(&state, &s, String::new(), s.t.saved.into(), String::new(), blank()).await,
        Err(e) => failed(s.lang, e),
    }
}

/// An endpoint filter as typed: `*`, or event types separated by commas or spaces.
fn events_of(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n']).map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect()
}

async fn add_endpoint(State(state): State<AppState>, headers: HeaderMap, RawForm(raw): RawForm) -> Response {
    let p = pairs(&raw);
    let s = post_open!(state, headers, field(&p, "csrf"), Role::Developer);
    let (url, events) = (field(&p, "url").trim().to_string(), field(&p, "events").to_string());
    let given = (url.clone(), events.clone());
    let url = match crate::fields::url_field(Some(url), "url", s.scope.mode) {
        Ok(Some(u)) if !u.is_empty() => u,
        Ok(_) => {
            return webhooks_page(&state, &s, String::new(), String::new(), s.t.url_required.into(), given).await;
        }
        Err(e) => return webhooks_page(&state, &s, String::new(), String::new(), e.message, given).await,
    };
    let fields = EndpointFields { url: Some(url), enabled_events: Some(events_of(&events)), status: None };
    let actor = s.user.email.clone();
    match state.app.write(s.scope.clone(), move |tx, ctx| endpoints::create(tx, ctx, fields.clone(), &actor)).await {
        Ok(e) => {
            webhooks_page(&state, &s, String::new(), format!("{} {}", e.id, s.t.saved), String::new(), blank()).await
        }
        Err(AppError::Domain(e)) => {
            webhooks_page(&state, &s, String::new(), String::new(), super::why(&e), given).await
        }
        Err(e) => failed(s.lang, e),
    }
}

async fn change_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let p = pairs(&raw);
    let s = post_open!(state, headers, field(&p, "csrf"), Role::Developer);
    let actor = s.user.email.clone();
    let action = field(&p, "action").to_string();
    let done = state
        .app
        .write(s.scope.clone(), move |tx, ctx| match action.as_str() {
            "delete" => endpoints::delete(tx, ctx, &id, &actor),
            "enable" | "disable" => {
                let status = if action == "enable" { EndpointStatus::Enabled } else { EndpointStatus::Disabled };
                let fields = EndpointFields { status: Some(status), ..Default::default() };
                endpoints::update(tx, ctx, &id, fields, &actor)
            }
            _ => Err(kasir_domain::DomainError::not_found("action", &action, "action").into()),
        })
        .await;
    match done {
        Ok(e) => {
            webhooks_page(&state, &s, String::new(), format!("{} {}", e.id, s.t.saved), String::new(), blank()).await
        }
        Err(AppError::Domain(e)) => {
            webhooks_page(&state, &s, String::new(), String::new(), super::why(&e), blank()).await
        }
        Err(e) => failed(s.lang, e),
    }
}

// ---- Deliveries ----

struct DeliveryRow {
    at: String,
    event: String,
    url: String,
    attempt: u32,
    status: String,
    latency: u64,
    error: String,
    ok: bool,
}

#[derive(Template)]
#[template(path = "dashboard/deliveries.html")]
struct DeliveriesPage {
    f: Frame,
    rows: Vec<DeliveryRow>,
}

/// The latest 200 tries, failures first.
async fn deliveries(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Developer);
    let scope = s.scope.clone();
    let mut all = match state.app.store.read(move |tx| tx.recent_deliveries(&scope, 200)).await {
        Ok(d) => d,
        Err(e) => return failed(s.lang, e),
    };
    all.sort_by(|a, b| a.succeeded.cmp(&b.succeeded).then(b.attempted_at.cmp(&a.attempted_at)));
    let rows = all
        .into_iter()
        .map(|d| DeliveryRow {
            at: wib(d.attempted_at, s.lang.text(), s.lang),
            event: d.event,
            url: d.url,
            attempt: d.attempt,
            status: d.http_status.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
            latency: d.latency_ms,
            error: d.error,
            ok: d.succeeded,
        })
        .collect();
    let p = DeliveriesPage { f: s.frame("deliveries"), rows };
    show(StatusCode::OK, &p.f, &p, &[])
}
