//! The team (owners): the account's users, adding one, unlocking, disabling, changing a role, and the
//! audit log. And every user's own account page: changing the password, two-step verification.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use kasir_app::users::{self, Role, UserError};
use kasir_app::{sessions, totp};
use kasir_store::StoreError;
use serde::Deserialize;

use super::payments::{form_or_default, open, post_open};
use super::{failed, message, posted, see, session_cookie, show, signed, signed_for, Frame, Signed};
use crate::pages::render::{wib, with_cookies};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/team", get(team))
        .route("/dashboard/team/users", post(add_user))
        .route("/dashboard/team/users/{id}", post(change_user))
        .route("/dashboard/account", get(account))
        .route("/dashboard/account/password", post(change_password))
        .route("/dashboard/account/2fa", post(two_factor))
}

struct UserRow {
    id: String,
    email: String,
    role: String,
    state: String,
    two_factor: bool,
    me: bool,
}

struct AuditRow {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "dashboard/team.html")]
struct TeamPage {
    f: Frame,
    users: Vec<UserRow>,
    audit: Vec<AuditRow>,
    roles: [&'static str; 3],
    /// A user just added with a one-time password: (email, password), shown this once.
    made: Option<(String, String)>,
}

async fn team(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = open!(state, headers, Role::Owner);
    team_page(&state, &s, None, String::new(), String::new()).await
}

async fn team_page(
    state: &AppState,
    s: &Signed,
    made: Option<(String, String)>,
    notice: String,
    error: String,
) -> Response {
    let account = s.user.account_id.clone();
    let read = state.app.store.read(move |tx| Ok::<_, StoreError>((tx.users()?, tx.audit_of(&account, 100)?))).await;
    let (all, log) = match read {
        Ok(r) => r,
        Err(e) => return failed(s.lang, e),
    };
    let users = all
        .into_iter()
        .filter(|u| u.account_id == s.user.account_id)
        .map(|u| {
            let state = if u.disabled {
                s.t.user_disabled.to_string()
            } else if let Some(t) = u.locked_until.filter(|t| *t > s.now) {
                format!("{} {}", s.t.locked_until, wib(t, s.lang.text(), s.lang))
            } else {
                s.t.active.to_string()
            };
            UserRow {
                me: u.id == s.user.id,
                id: u.id.clone(),
                email: u.email,
                role: u.role,
                state,
                two_factor: u.totp_secret.is_some(),
            }
        })
        .collect();
    let audit = log
        .into_iter()
        .map(|l| AuditRow { at: wib(l.at, s.lang.text(), s.lang), actor: l.actor, action: l.action, detail: l.detail })
        .collect();
    let f = s.frame_with("team", notice, error);
    let p = TeamPage { f, users, audit, roles: ["support", "developer", "owner"], made };
    show(StatusCode::OK, &p.f, &p, &[])
}

/// A user refusal in the page's language.
fn said(s: &Signed, e: &UserError) -> String {
    super::text::user_error(s.lang, e)
}

#[derive(Debug, Default, Deserialize)]
struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    action: String,
}

async fn add_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<UserForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Owner);
    let Some(role) = Role::parse(&form.role) else {
        return team_page(&state, &s, None, String::new(), s.t.choose_role.into()).await;
    };
    let (account, actor, now, email) = (s.user.account_id.clone(), s.user.email.clone(), s.now, form.email.clone());
    let made = state.app.store.write(move |tx| users::create(tx, &account, &email, role, None, &actor, now)).await;
    match made {
        Ok((u, Some(p))) => team_page(&state, &s, Some((u.email, p)), String::new(), String::new()).await,
        Ok((_, None)) => team_page(&state, &s, None, s.t.saved.into(), String::new()).await,
        Err(UserError::Store(e)) => failed(s.lang, e),
        Err(e) => team_page(&state, &s, None, String::new(), said(&s, &e)).await,
    }
}

/// An owner's change to a user of the account (by id): unlock, disable, or a new role. Not to themselves
/// (an account keeps an owner who can sign in).
async fn change_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<UserForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Owner);
    let (account, actor, now) = (s.user.account_id.clone(), s.user.email.clone(), s.now);
    let me = s.user.id.clone();
    let (action, role) = (form.action.clone(), form.role.clone());
    let done = state
        .app
        .store
        .write(move |tx| {
            let u = tx.user(&id)?.ok_or_else(|| UserError::NoSuchUser(id.clone()))?;
            if u.account_id != account {
                return Err(UserError::NoSuchUser(id.clone()));
            }
            if u.id == me && action != "unlock" {
                return Err(UserError::NoSuchUser(u.email));
            }
            match action.as_str() {
                "unlock" => users::unlock(tx, &u.email, &actor, now),
                "disable" => users::disable(tx, &u.email, &actor, now),
                "role" => {
                    let role = Role::parse(&role).ok_or(UserError::NoSuchUser(role.clone()))?;
                    users::set_role(tx, &account, &u.email, role, &actor, now)
                }
                _ => Err(UserError::NoSuchUser(action.clone())),
            }
        })
        .await;
    match done {
        Ok(u) => team_page(&state, &s, None, format!("{}: {}", u.email, s.t.saved), String::new()).await,
        Err(UserError::Store(e)) => failed(s.lang, e),
        Err(e) => team_page(&state, &s, None, String::new(), said(&s, &e)).await,
    }
}

// ---- One's own account ----

#[derive(Template)]
#[template(path = "dashboard/account.html")]
struct AccountPage {
    f: Frame,
    must_change: bool,
    two_factor: bool,
    /// Setting up: the secret and its `otpauth://` address.
    setup: Option<(String, String)>,
    codes: Vec<String>,
}

async fn account(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match signed_for(&state, &headers, Role::Support, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    account_page(&s, None, Vec::new(), String::new(), String::new())
}

fn account_page(
    s: &Signed,
    setup: Option<(String, String)>,
    codes: Vec<String>,
    notice: String,
    error: String,
) -> Response {
    let mut f = s.frame_with("account", notice, error);
    if s.user.must_change_password && f.notice.is_empty() {
        f.notice = s.t.must_change.into();
    }
    let p = AccountPage {
        f,
        must_change: s.user.must_change_password,
        two_factor: s.user.totp_secret.is_some(),
        setup,
        codes,
    };
    show(StatusCode::OK, &p.f, &p, &[])
}

#[derive(Debug, Default, Deserialize)]
struct PasswordChange {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

/// A user's own new password: every session of theirs ends, and this browser gets a new one.
async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasswordChange>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = match signed_for(&state, &headers, Role::Support, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !super::csrf_ok(&state, &headers, &s, &form.csrf) {
        return super::bad_form(&s);
    }
    if let Some(why) = super::password_refused(&state, &s, &form.current).await {
        return account_page(&s, None, Vec::new(), String::new(), why);
    }
    let (id, now) = (s.user.id.clone(), s.now);
    let (current, new) = (form.current.clone(), form.new.clone());
    let done = state
        .app
        .store
        .write(move |tx| {
            let u = users::change_password(tx, &id, &current, &new, now)?;
            Ok::<_, UserError>(sessions::start(tx, &u, false, now)?)
        })
        .await;
    match done {
        Ok(token) => with_cookies(see("/dashboard"), &[session_cookie(&state, &token, None)]),
        Err(UserError::Store(e)) => failed(s.lang, e),
        Err(e) => account_page(&s, None, Vec::new(), String::new(), said(&s, &e)),
    }
}

#[derive(Debug, Default, Deserialize)]
struct TwoFactorForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// Two-step verification: `begin` (a secret to add to an app), `confirm` (a code from it turns it on
/// and shows the recovery codes once), `off` (with the password).
async fn two_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TwoFactorForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form_or_default(form);
    let s = post_open!(state, headers, &form.csrf, Role::Support);
    let (id, now) = (s.user.id.clone(), s.now);
    match form.action.as_str() {
        "begin" => match state.app.store.write(move |tx| totp::begin(tx, &id)).await {
            Ok(secret) => {
                let uri = totp::otpauth("Kasir", &s.user.email, &secret);
                account_page(&s, Some((secret, uri)), Vec::new(), String::new(), String::new())
            }
            Err(e) => failed(s.lang, e),
        },
        "confirm" => {
            let code = form.code.clone();
            match state.app.store.write(move |tx| totp::confirm(tx, &id, &code, now)).await {
                Ok(codes) => {
                    let mut s = s;
                    s.user.totp_secret = Some(String::new());
                    account_page(&s, None, codes, s.t.two_factor_on.into(), String::new())
                }
                Err(UserError::Store(e)) => failed(s.lang, e),
                Err(e) => {
                    let pending = s.user.totp_pending.clone().unwrap_or_default();
                    let uri = totp::otpauth("Kasir", &s.user.email, &pending);
                    account_page(&s, Some((pending, uri)), Vec::new(), String::new(), said(&s, &e))
                }
            }
        }
        "off" => {
            if let Some(why) = super::password_refused(&state, &s, &form.password).await {
                return account_page(&s, None, Vec::new(), String::new(), why);
            }
            match state.app.store.write(move |tx| totp::disable(tx, &id, now)).await {
                Ok(()) => {
                    let mut s = s;
                    s.user.totp_secret = None;
                    account_page(&s, None, Vec::new(), s.t.two_factor_off.into(), String::new())
                }
                Err(e) => failed(s.lang, e),
            }
        }
        _ => message(StatusCode::NOT_FOUND, s.lang, Some(&s), s.t.not_found, &form.action),
    }
}
