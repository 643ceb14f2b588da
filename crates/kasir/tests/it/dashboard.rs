//! The merchant dashboard over HTTP: sessions (cookie flags, timeouts, sign-out, lock-out, two-step
//! verification), roles enforced on every post, CSRF, secrets shown only when asked for, refunds from
//! the button (once, however often it is pressed), search and pagination, and bad input writing nothing.
//! The browser tests (`browser.rs`) walk the same pages in Chromium.

use std::collections::BTreeMap;
use std::time::Duration;

use kasir_app::users::Role;

use kasir_client::{Confirm, ListParams, NewPayin, NewRefund};

use crate::helpers::{assert_refused, confirm, new_payin, TestApp};

pub const PASSWORD: &str = "kopi susu gula aren";

/// Makes a dashboard user of the app's account.
pub async fn user(app: &TestApp, email: &str, role: Role) {
    let (account, now, email) = (app.account().await, kasir_domain::Clock::now(&app.clock), email.to_string());
    app.store
        .write(move |tx| kasir_app::users::create(tx, &account, &email, role, Some(PASSWORD), "test", now))
        .await
        .expect("user");
}

/// A browser, as far as the dashboard can tell: cookies kept, redirects not followed.
pub struct Dash {
    base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first `name="csrf"` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..at + self.body[at..].find('"').unwrap()].to_string()
    }

    pub fn field(&self, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&key).unwrap_or_else(|| panic!("no field {name}")) + key.len();
        self.body[at..at + self.body[at..].find('"').unwrap()].to_string()
    }
}

impl Dash {
    pub fn new(app: &TestApp) -> Dash {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Dash { base: app.base.clone(), http, cookies: BTreeMap::new() }
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, res: reqwest::Response) -> Page {
        self.keep(&res);
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        Page { status, headers, body: res.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res =
            self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.finish(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// Signs in; returns the answer to the sign-in form.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/dashboard/login").await;
        let csrf = form.csrf();
        self.post("/dashboard/login", &[("email", email), ("password", password), ("csrf", &csrf)]).await
    }
}

/// Creates `new`, confirms it with `with`, and succeeds its push now; returns its id.
pub async fn pay(app: &TestApp, new: &NewPayin, with: &Confirm) -> String {
    let id = app.kasir.create_payin(new).await.unwrap().id;
    let pat = app.kasir.confirm_payin_with(&id, with).await.unwrap().latest_payment_attempt;
    app.kasir.sandbox_attempt(&pat, true, None).await.unwrap();
    id
}

/// A test payin that succeeded, with its reference and customer.
pub async fn paid(app: &TestApp, reference: &str, email: &str, number: &str) -> String {
    let mut with = confirm(number);
    with.customer_details.as_mut().unwrap().email = email.into();
    pay(app, &new_payin(7_700_000).reference_id(reference), &with).await
}

backend_tests! {
async fn signing_in_gives_a_fresh_http_only_session_and_signing_out_ends_it() {
    let app = TestApp::spawn().await;
    user(&app, "siti@toko.co.id", Role::Owner).await;
    let mut d = Dash::new(&app);
    let away = d.get("/dashboard").await;
    assert_eq!((away.status, away.location()), (303, "/dashboard/login"));
    let form = d.get("/dashboard/login").await;
    assert_eq!(form.status, 200);
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'nonce-") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(form.body.contains("name=\"email\"") && form.body.contains("name=\"password\""));

    // No CSRF token: refused, nobody signed in.
    let forged = d.post("/dashboard/login", &[("email", "siti@toko.co.id"), ("password", PASSWORD)]).await;
    assert_eq!(forged.status, 403);
    assert!(!d.cookies.contains_key("kasir_session"));
    let wrong = d.sign_in("siti@toko.co.id", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Email atau kata sandi salah."), "{}", wrong.body);

    let ok = d.sign_in("Siti@Toko.co.id", PASSWORD).await;
    assert_eq!((ok.status, ok.location()), (303, "/dashboard"));
    let set = ok.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with("kasir_session=")).unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/dashboard"), "{set}");
    assert!(!set.contains("Secure"), "http here; Secure when --public-url is https");
    let first = d.cookies["kasir_session"].clone();
    let home = d.get("/dashboard").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("30 hari terakhir"), "Indonesian by default");

    // A new sign-in is a new session id, and ends the one the browser had.
    d.sign_in("siti@toko.co.id", PASSWORD).await;
    let second = d.cookies["kasir_session"].clone();
    assert_ne!(first, second);
    let mut old = Dash::new(&app);
    old.cookies.insert("kasir_session".into(), first);
    assert_eq!(old.get("/dashboard").await.location(), "/dashboard/login?ended=1");

    let csrf = d.get("/dashboard").await.csrf();
    let out = d.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/dashboard/login?out=1");
    let mut after = Dash::new(&app);
    after.cookies.insert("kasir_session".into(), second);
    assert_eq!(after.get("/dashboard").await.location(), "/dashboard/login?ended=1");
    // The sign-in and sign-out are in the audit log.
    let account = app.account().await;
    let log = app.store.read(move |tx| tx.audit_of(&account, 3)).await.unwrap();
    assert_eq!(log[0].action, "user.signed_out");
    assert_eq!(log[1].action, "user.signed_in");
}
}

backend_tests! {
async fn a_session_ends_after_30_idle_minutes_and_12_hours_in_all() {
    let app = TestApp::spawn().await;
    user(&app, "budi@toko.co.id", Role::Support).await;
    let mut d = Dash::new(&app);
    d.sign_in("budi@toko.co.id", PASSWORD).await;
    app.advance(Duration::from_secs(29 * 60)).await;
    assert_eq!(d.get("/dashboard").await.status, 200, "29 idle minutes");
    // Busy, but twelve hours on it ends.
    for _ in 0..27 {
        app.advance(Duration::from_secs(25 * 60)).await;
        assert_eq!(d.get("/dashboard").await.status, 200);
    }
    app.advance(Duration::from_secs(25 * 60)).await;
    let late = d.get("/dashboard").await;
    assert_eq!(late.location(), "/dashboard/login?ended=1", "12 hours after sign-in");

    d.sign_in("budi@toko.co.id", PASSWORD).await;
    app.advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(d.get("/dashboard").await.location(), "/dashboard/login?ended=1", "30 idle minutes");
    let ended = d.get("/dashboard/login?ended=1").await;
    assert!(ended.body.contains("Sesi Anda berakhir"), "{}", ended.body);
    // A sign-in clears the user's ended sessions away: the 12-hour one went at the second sign-in, the
    // idle one goes at this.
    assert_eq!(app.count("dashboard_sessions").await, 1);
    d.sign_in("budi@toko.co.id", PASSWORD).await;
    assert_eq!(app.count("dashboard_sessions").await, 1);
    assert_eq!(d.get("/dashboard").await.status, 200);
}
}

backend_tests! {
async fn disabling_a_user_or_a_new_password_ends_every_session_of_theirs() {
    let app = TestApp::spawn().await;
    user(&app, "owner@toko.co.id", Role::Owner).await;
    user(&app, "ani@toko.co.id", Role::Support).await;
    let (mut a, mut b, mut owner) = (Dash::new(&app), Dash::new(&app), Dash::new(&app));
    a.sign_in("ani@toko.co.id", PASSWORD).await;
    b.sign_in("ani@toko.co.id", PASSWORD).await;
    owner.sign_in("owner@toko.co.id", PASSWORD).await;

    // Ani changes her password in one browser: the other is signed out, this one goes on.
    let csrf = a.get("/dashboard/account").await.csrf();
    let short = a.post("/dashboard/account/password", &[("csrf", &csrf), ("current", PASSWORD), ("new", "short")]).await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("minimal 12 karakter"), "{}", short.body);
    let changed = a
        .post("/dashboard/account/password", &[("csrf", &csrf), ("current", PASSWORD), ("new", "teh tarik hangat")])
        .await;
    assert_eq!(changed.location(), "/dashboard");
    assert_eq!(a.get("/dashboard").await.status, 200);
    assert_eq!(b.get("/dashboard").await.location(), "/dashboard/login?ended=1");

    // The owner disables her: her session ends at once.
    let users = app.store.read(|tx| tx.users()).await.unwrap();
    let id_of = |email: &str| users.iter().find(|u| u.email == email).unwrap().id.clone();
    let (ani, me) = (id_of("ani@toko.co.id"), id_of("owner@toko.co.id"));
    let csrf = owner.get("/dashboard/team").await.csrf();
    let off = owner.post(&format!("/dashboard/team/users/{ani}"), &[("csrf", &csrf), ("action", "disable")]).await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(a.get("/dashboard").await.location(), "/dashboard/login?ended=1");
    assert_eq!(a.sign_in("ani@toko.co.id", "teh tarik hangat").await.status, 401);
    // An owner cannot disable themselves (an account keeps an owner).
    let me = owner.post(&format!("/dashboard/team/users/{me}"), &[("csrf", &csrf), ("action", "disable")]).await;
    assert_eq!(me.status, 400);
    assert_eq!(owner.get("/dashboard").await.status, 200);
}
}

backend_tests! {
async fn five_failed_sign_ins_lock_the_user_and_the_page_says_until_when() {
    let app = TestApp::spawn().await;
    user(&app, "rina@toko.co.id", Role::Developer).await;
    let mut d = Dash::new(&app);
    for _ in 0..4 {
        assert_eq!(d.sign_in("rina@toko.co.id", "wrong password!").await.status, 401);
    }
    let locked = d.sign_in("rina@toko.co.id", "wrong password!").await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("dikunci sampai"), "{}", locked.body);
    assert!(locked.body.contains("WIB"), "{}", locked.body);
    assert_eq!(d.sign_in("rina@toko.co.id", PASSWORD).await.status, 429, "the right password waits too");
    app.advance(Duration::from_secs(15 * 60)).await;
    assert_eq!(d.sign_in("rina@toko.co.id", PASSWORD).await.status, 303);
}
}

backend_tests! {
async fn two_step_verification_takes_a_code_once_or_a_recovery_code_once() {
    let app = TestApp::spawn().await;
    user(&app, "dewi@toko.co.id", Role::Owner).await;
    let mut d = Dash::new(&app);
    d.sign_in("dewi@toko.co.id", PASSWORD).await;
    let csrf = d.get("/dashboard/account").await.csrf();
    let setup = d.post("/dashboard/account/2fa", &[("csrf", &csrf), ("action", "begin")]).await;
    let at = setup.body.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = setup.body[at..at + 32].to_string();
    let key = base32_decode(&secret);
    let code_now = |app: &TestApp| {
        let now = kasir_domain::Clock::now(&app.clock).as_micros() / 1_000_000 / 30;
        kasir_app::totp::code_at(&key, now)
    };
    let bad = d.post("/dashboard/account/2fa", &[("csrf", &csrf), ("action", "confirm"), ("code", "000000")]).await;
    assert_eq!(bad.status, 400);
    let on = d.post("/dashboard/account/2fa", &[("csrf", &csrf), ("action", "confirm"), ("code", &code_now(&app))]).await;
    assert_eq!(on.status, 200, "{}", on.body);
    let at = on.body.find("id=\"recovery\">").unwrap() + 14;
    let codes: Vec<String> = on.body[at..at + on.body[at..].find('<').unwrap()].split_whitespace().map(str::to_string).collect();
    assert_eq!(codes.len(), 10);

    // Signing in now asks for the code; nothing else opens meanwhile.
    let mut e = Dash::new(&app);
    assert_eq!(e.sign_in("dewi@toko.co.id", PASSWORD).await.location(), "/dashboard/login/2fa");
    assert_eq!(e.get("/dashboard/payins").await.location(), "/dashboard/login/2fa");
    let csrf2 = e.get("/dashboard/login/2fa").await.csrf();
    app.advance(Duration::from_secs(30)).await;
    let code = code_now(&app);
    let wrong = e.post("/dashboard/login/2fa", &[("csrf", &csrf2), ("code", "123456")]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(e.post("/dashboard/login/2fa", &[("csrf", &csrf2), ("code", &code)]).await.location(), "/dashboard");
    assert_eq!(e.get("/dashboard").await.status, 200);

    // The same code does not sign in twice; a recovery code does, once.
    let mut f = Dash::new(&app);
    f.sign_in("dewi@toko.co.id", PASSWORD).await;
    let csrf3 = f.get("/dashboard/login/2fa").await.csrf();
    assert_eq!(f.post("/dashboard/login/2fa", &[("csrf", &csrf3), ("code", &code)]).await.status, 401);
    assert_eq!(f.post("/dashboard/login/2fa", &[("csrf", &csrf3), ("code", &codes[0])]).await.location(), "/dashboard");
    let mut g = Dash::new(&app);
    g.sign_in("dewi@toko.co.id", PASSWORD).await;
    let csrf4 = g.get("/dashboard/login/2fa").await.csrf();
    assert_eq!(g.post("/dashboard/login/2fa", &[("csrf", &csrf4), ("code", &codes[0])]).await.status, 401);

    // Wrong codes count as failed sign-ins, and the right password does not reset the count while the
    // code is still to come: the fifth locks the user, and then even a right code is refused.
    for _ in 0..3 {
        let mut h = Dash::new(&app);
        h.sign_in("dewi@toko.co.id", PASSWORD).await;
        let c = h.get("/dashboard/login/2fa").await.csrf();
        assert_eq!(h.post("/dashboard/login/2fa", &[("csrf", &c), ("code", "999999")]).await.status, 401);
    }
    let locked = g.post("/dashboard/login/2fa", &[("csrf", &csrf4), ("code", "999999")]).await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("dikunci sampai"), "{}", locked.body);
    app.advance(Duration::from_secs(30)).await;
    let right = g.post("/dashboard/login/2fa", &[("csrf", &csrf4), ("code", &code_now(&app))]).await;
    assert_eq!(right.status, 429, "locked, whatever is entered");
}
}

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes() {
        acc = (acc << 5) | alphabet.iter().position(|x| *x == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

backend_tests! {
async fn a_support_user_is_refused_a_developers_page_and_its_post_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    user(&app, "cs@toko.co.id", Role::Support).await;
    let mut d = Dash::new(&app);
    d.sign_in("cs@toko.co.id", PASSWORD).await;
    let home = d.get("/dashboard").await;
    assert!(!home.body.contains("/dashboard/keys"), "no link to what the role may not open");
    let csrf = home.csrf();
    let before = app.row_counts().await;
    for path in ["/dashboard/keys", "/dashboard/webhooks", "/dashboard/deliveries", "/dashboard/team"] {
        let page = d.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains("Peran Anda tidak boleh"), "{path}: {}", page.body);
    }
    let posts: [(&str, &[(&str, &str)]); 5] = [
        ("/dashboard/keys", &[("mode", "test"), ("password", PASSWORD)]),
        ("/dashboard/webhooks/reveal", &[("password", PASSWORD)]),
        ("/dashboard/webhooks/rotate", &[("password", PASSWORD)]),
        ("/dashboard/webhooks/endpoints", &[("url", "https://x.example/h"), ("events", "*")]),
        ("/dashboard/team/users", &[("email", "new@toko.co.id"), ("role", "owner")]),
    ];
    for (path, fields) in posts {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let a = d.post(path, &form).await;
        assert_eq!(a.status, 403, "{path}");
        assert!(!a.body.contains("whsec_") && !a.body.contains("sk_"), "{path} shows no secret");
    }
    assert_eq!(app.row_counts().await, before, "a refused post writes nothing");
}
}

backend_tests! {
async fn a_post_without_the_sessions_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    user(&app, "dev@toko.co.id", Role::Developer).await;
    let mut d = Dash::new(&app);
    d.sign_in("dev@toko.co.id", PASSWORD).await;
    let before = app.row_counts().await;
    for token in ["", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"] {
        let a = d.post("/dashboard/keys", &[("csrf", token), ("mode", "test"), ("password", PASSWORD)]).await;
        assert_eq!(a.status, 403);
        assert!(a.body.contains("Formulir kedaluwarsa"), "{}", a.body);
    }
    assert_eq!(app.row_counts().await, before);
}
}

backend_tests! {
async fn secrets_appear_only_on_the_answer_that_asked_for_them_with_the_password() {
    let app = TestApp::spawn().await;
    user(&app, "dev@toko.co.id", Role::Developer).await;
    let mut d = Dash::new(&app);
    d.sign_in("dev@toko.co.id", PASSWORD).await;
    let keys = d.get("/dashboard/keys").await;
    assert!(keys.body.contains(crate::helpers::SEED_ACCESS_KEY));
    assert!(!keys.body.contains(crate::helpers::SEED_SECRET_KEY));
    let csrf = keys.csrf();
    let wrong = d.post("/dashboard/keys", &[("csrf", &csrf), ("mode", "test"), ("password", "not mine at all")]).await;
    assert_eq!(wrong.status, 400);
    assert!(!wrong.body.contains("id=\"made-secret\""));
    let made = d.post("/dashboard/keys", &[("csrf", &csrf), ("mode", "test"), ("password", PASSWORD)]).await;
    let at = made.body.find("id=\"made-secret\">").unwrap() + 17;
    let secret = &made.body[at..at + made.body[at..].find('<').unwrap()];
    assert!(secret.starts_with("sk_test_"), "{secret}");
    assert!(!d.get("/dashboard/keys").await.body.contains(secret), "shown once");

    let hooks = d.get("/dashboard/webhooks").await;
    assert!(!hooks.body.contains("id=\"secret\""));
    let secret = app.store.read(|tx| tx.accounts()).await.unwrap()[0].webhook_secret.clone();
    let no = d.post("/dashboard/webhooks/reveal", &[("csrf", &csrf), ("password", "nope nope nope")]).await;
    assert!(!no.body.contains("id=\"secret\""));
    let shown = d.post("/dashboard/webhooks/reveal", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    let at = shown.body.find("id=\"secret\">").unwrap() + 12;
    let revealed = shown.body[at..at + shown.body[at..].find('<').unwrap()].to_string();
    assert!(revealed.starts_with("whsec_"), "{revealed}");
    if let Some(s) = secret {
        assert_eq!(revealed, s);
    }
    let rotated = d.post("/dashboard/webhooks/rotate", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    let at = rotated.body.find("id=\"secret\">").unwrap() + 12;
    let new = &rotated.body[at..at + rotated.body[at..].find('<').unwrap()];
    assert!(new.starts_with("whsec_") && new != revealed, "a new secret");
    let account = app.account().await;
    let log = app.store.read(move |tx| tx.audit_of(&account, 3)).await.unwrap();
    assert_eq!(log[0].action, "webhook_secret.rotated");
    assert_eq!(log[1].action, "webhook_secret.revealed");
    assert_eq!(log[2].action, "key.created");
}
}

backend_tests! {
async fn a_double_pressed_refund_makes_one_refund_and_a_bad_reason_makes_none() {
    let app = TestApp::spawn().await;
    user(&app, "cs@toko.co.id", Role::Support).await;
    let id = paid(&app, "ORDER-1", "rudi@example.com", "81234567890").await;
    let mut d = Dash::new(&app);
    d.sign_in("cs@toko.co.id", PASSWORD).await;
    let form = d.get(&format!("/dashboard/payins/{id}/refund")).await;
    assert!(form.body.contains("Rp 77.000"), "the full amount, as Indonesians write it");
    let (csrf, token) = (form.csrf(), form.field("token"));
    let path = format!("/dashboard/payins/{id}/refund");
    let before = app.count("refunds").await;
    let none = d.post(&path, &[("csrf", &csrf), ("token", &token), ("reason", "whim")]).await;
    assert_eq!(none.status, 400);
    let other = d.post(&path, &[("csrf", &csrf), ("token", &token), ("reason", "other"), ("remarks", " ")]).await;
    assert_eq!(other.status, 400);
    assert!(other.body.contains("Lainnya"), "{}", other.body);
    assert_eq!(app.count("refunds").await, before, "nothing written");

    let form = [("csrf", csrf.as_str()), ("token", token.as_str()), ("reason", "not_received")];
    let (mut d1, mut d2) = (d.clone_for_test(), d.clone_for_test());
    let (a, b) = tokio::join!(d1.post(&path, &form), d2.post(&path, &form));
    assert_eq!((a.status, b.status), (303, 303));
    let again = d.post(&path, &form).await;
    assert_eq!(again.status, 303);
    let refunds = app.get(&format!("/v3/refund?payin={id}")).await;
    let list = refunds.data()["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "one refund however often the button is pressed");
    assert_eq!(list[0]["reason"], "Product not received");
    assert_eq!(list[0]["status"], "pending");
    let page = d.get(&format!("/dashboard/payins/{id}")).await;
    assert!(page.body.contains(list[0]["id"].as_str().unwrap()));
    assert!(!page.body.contains("id=\"refund\""), "no refund button once refunded");
}
}

impl Dash {
    /// Another client with this one's cookies, for posting at once from two.
    pub fn clone_for_test(&self) -> Dash {
        Dash { base: self.base.clone(), http: self.http.clone(), cookies: self.cookies.clone() }
    }
}

backend_tests! {
async fn payins_are_found_by_reference_email_phone_status_and_date_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    user(&app, "cs@toko.co.id", Role::Support).await;
    let paid_id = paid(&app, "ORDER-77", "Rudi@Example.com", "81299990000").await;
    let decoy = NewPayin::new("IDR", 1_000_000, "call 081299990000 about this order");
    app.kasir.create_payin(&decoy).await.unwrap();
    for i in 0..26 {
        app.kasir.create_payin(&new_payin(1_000_000 + i * 100).reference_id(&format!("BULK-{i}"))).await.unwrap();
    }
    let mut d = Dash::new(&app);
    d.sign_in("cs@toko.co.id", PASSWORD).await;
    let rows = |p: &Page| p.body.matches("<tr><td data-label").count();
    for q in ["ORDER-77", "rudi@example.com", "0812-9999-0000", "+62 812 9999 0000", &paid_id] {
        let found = d.get(&format!("/dashboard/payins?q={}", url_escape(q))).await;
        assert_eq!(rows(&found), 1, "{q}");
        assert!(found.body.contains(&paid_id), "{q}");
        assert!(found.body.contains("+62 *******0000"), "the phone masked");
        assert!(!found.body.contains("81299990000"));
    }
    let succeeded = d.get("/dashboard/payins?status=succeeded").await;
    assert_eq!(rows(&succeeded), 1);
    let first = d.get("/dashboard/payins").await;
    assert_eq!(rows(&first), 25);
    assert!(first.body.find("BULK-25").unwrap() < first.body.find("BULK-24").unwrap(), "newest first");
    let at = first.body.find("id=\"next\" href=\"").unwrap() + 16;
    let next = first.body[at..at + first.body[at..].find('"').unwrap()].replace("&amp;", "&");
    let second = d.get(&next).await;
    assert_eq!(rows(&second), 3);
    assert!(!second.body.contains("id=\"next\""));
    let today = kasir_domain::Clock::now(&app.clock).civil(kasir_domain::WIB_OFFSET_SECS);
    let day = format!("{}-{:02}-{:02}", today.year, today.month, today.day);
    let dated = d.get(&format!("/dashboard/payins?from={day}&to={day}&q=ORDER-77")).await;
    assert_eq!(rows(&dated), 1);
    let before = d.get("/dashboard/payins?to=2020-01-01").await;
    assert_eq!(rows(&before), 0);
    let bad = d.get("/dashboard/payins?from=yesterday").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("bukan tanggal"), "{}", bad.body);
}
}

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

backend_tests! {
async fn bad_input_on_the_forms_gets_a_message_and_writes_nothing() {
    let app = TestApp::spawn().await;
    user(&app, "owner@toko.co.id", Role::Owner).await;
    let mut d = Dash::new(&app);
    d.sign_in("owner@toko.co.id", PASSWORD).await;
    let csrf = d.get("/dashboard").await.csrf();
    let before = app.row_counts().await;
    let cases: [(&str, Form, &str); 7] = [
        ("/dashboard/webhooks/endpoints", vec![("url", "ftp://x.example"), ("events", "*")], "url"),
        ("/dashboard/webhooks/endpoints", vec![("url", "https://x.example/h"), ("events", "payin.paid")], "payin.paid"),
        ("/dashboard/webhooks/endpoints", vec![("url", ""), ("events", "*")], "URL wajib"),
        ("/dashboard/team/users", vec![("email", "not-an-email"), ("role", "support")], "bukan alamat email"),
        ("/dashboard/team/users", vec![("email", "x@toko.co.id"), ("role", "admin")], "Pilih peran"),
        ("/dashboard/keys", vec![("mode", "prod"), ("password", PASSWORD)], "Pilih test atau live"),
        ("/dashboard/transfers/rfd_aaaaaaaaaaaaaaaaaaaa", vec![("reference", "TRF-1"), ("failure", "x")], "salah satu"),
    ];
    for (path, fields, says) in cases {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let a = d.post(path, &form).await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(a.body.contains(says), "{path} says {says:?}: {}", a.body);
    }
    let after = app.row_counts().await;
    // Only the audit log of sign-in moved before; nothing since.
    assert_eq!(after, before);
}
}

backend_tests! {
async fn english_by_accept_language_or_the_switch_which_is_remembered() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let en = http
        .get(format!("{}/dashboard/login", app.base))
        .header("accept-language", "en-GB,en;q=0.9,id;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains(">Sign in<") && en.contains("lang=\"en\""), "{en}");
    let mut d = Dash::new(&app);
    let switched = d.get("/dashboard/login?lang=en&ended=1").await;
    assert_eq!((switched.status, switched.location()), (303, "/dashboard/login?ended=1"));
    let page = d.get(switched.location()).await;
    assert!(page.body.contains("Your session ended"), "{}", page.body);
    user(&app, "siti@toko.co.id", Role::Owner).await;
    d.sign_in("siti@toko.co.id", PASSWORD).await;
    assert!(d.get("/dashboard").await.body.contains("Last 30 days (WIB)"), "remembered in a cookie");
}
}

backend_tests! {
async fn nothing_in_the_dashboard_opens_without_a_session() {
    let app = TestApp::spawn().await;
    let mut d = Dash::new(&app);
    for route in kasir_api::dashboard::ROUTES {
        if route.starts_with("/dashboard/login") {
            continue;
        }
        let path = route.replace("{id}", "pay_aaaaaaaaaaaaaaaaaaaa").replace("{outcome}", "succeed");
        for method in ["GET", "POST"] {
            let page = if method == "GET" { d.get(&path).await } else { d.post(&path, &[("csrf", "x")]).await };
            if page.status == 405 {
                continue; // no such method on this route
            }
            assert!(
                page.status == 303 && page.location().starts_with("/dashboard/login"),
                "{method} {path}: {} {}",
                page.status,
                page.location()
            );
        }
    }
}
}

backend_tests! {
async fn the_sandbox_controls_and_event_types_work_from_the_dashboard() {
    let app = TestApp::spawn().await;
    user(&app, "dev@toko.co.id", Role::Developer).await;
    let id = app.create_payin(5_000_000).await;
    let pat = app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap().latest_payment_attempt;
    let mut d = Dash::new(&app);
    d.sign_in("dev@toko.co.id", PASSWORD).await;
    let page = d.get(&format!("/dashboard/payins/{id}")).await;
    assert!(page.body.contains("Kontrol sandbox"));
    let csrf = page.csrf();
    let done = d.post(&format!("/dashboard/attempts/{pat}/succeed"), &[("csrf", &csrf), ("payin", &id)]).await;
    assert_eq!(done.location(), format!("/dashboard/payins/{id}"));
    assert_eq!(app.kasir.payin(&id).await.unwrap().status, "succeeded");
    let again = d.post(&format!("/dashboard/attempts/{pat}/fail"), &[("csrf", &csrf), ("payin", &id)]).await;
    assert_eq!(again.status, 400, "already has its outcome");

    // Event types: the checked boxes are the ones sent.
    let form = [("csrf", csrf.as_str()), ("on", "payin.created"), ("on", "payin.succeeded")];
    assert_eq!(d.post("/dashboard/webhooks/events", &form).await.status, 200);
    let account = app.account().await;
    let switches = app.store.read(move |tx| kasir_app::accounts::event_switches(tx, &account)).await.unwrap();
    for kind in kasir_domain::EventType::ALL {
        let want = matches!(kind.as_str(), "payin.created" | "payin.succeeded");
        assert_eq!(switches.is_on(kind), want, "{}", kind.as_str());
    }
    let hooks = d.get("/dashboard/webhooks").await;
    assert!(hooks.body.contains("value=\"payin.created\" checked"));
    assert!(!hooks.body.contains("value=\"refund.failed\" checked"));
}
}

backend_tests! {
async fn a_refund_awaiting_a_manual_transfer_is_finished_from_the_queue() {
    let app = TestApp::spawn().await;
    let receiver = crate::helpers::Receiver::start().await;
    user(&app, "finance@toko.co.id", Role::Support).await;
    let id = pay(&app, &new_payin(7_700_000).webhook_url(&receiver.url), &confirm("81234567890")).await;
    let rfd = app.kasir.create_refund(&NewRefund { payin: id.clone(), ..NewRefund::default() }).await.unwrap().id;
    let (account, key) = (app.account().await, rfd.clone());
    app.store
        .write(move |tx| {
            let scope = kasir_store::Scope { account_id: account.clone(), mode: kasir_domain::Mode::Test };
            kasir_app::refunds::await_transfer(tx, &scope, &key, "after the void window")
        })
        .await
        .unwrap();
    let mut d = Dash::new(&app);
    d.sign_in("finance@toko.co.id", PASSWORD).await;
    let queue = d.get("/dashboard/transfers").await;
    assert!(queue.body.contains(&rfd), "{}", queue.body);
    let csrf = queue.csrf();
    let sent = d.post(&format!("/dashboard/transfers/{rfd}"), &[("csrf", &csrf), ("reference", "BCA-TRF-0042")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(!sent.body.contains(&format!("id=\"{rfd}\"")), "no longer waiting");
    let after = app.kasir.refund(&rfd).await.unwrap();
    assert_eq!(after.status, "succeeded");
    assert!(after.status_description.contains("BCA-TRF-0042"), "{}", after.status_description);
    let hits = receiver.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.succeeded")).await;
    let hit = hits.iter().find(|h| h.json()["type"] == "refund.succeeded").unwrap();
    assert!(hit.json()["data"]["status_description"].as_str().unwrap().contains("BCA-TRF-0042"));
    let twice = d.post(&format!("/dashboard/transfers/{rfd}"), &[("csrf", &csrf), ("reference", "again")]).await;
    assert_eq!(twice.status, 400, "a refund is finished once");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_good_on_every_process_on_one_postgres_and_a_sign_out_ends_it_on_all() {
    if !crate::helpers::postgres_enabled() {
        return;
    }
    crate::helpers::BACKEND
        .scope(crate::helpers::Backend::Postgres, async {
            let a = TestApp::spawn().await;
            let url = a.database_url().to_string();
            let b = TestApp::spawn_at(
                crate::helpers::FreshDatabase::shared(&url),
                &url,
                crate::helpers::Settings::default(),
                false,
            )
            .await;
            user(&a, "siti@toko.co.id", Role::Support).await;
            let mut on_a = Dash::new(&a);
            on_a.sign_in("siti@toko.co.id", PASSWORD).await;
            let mut on_b = Dash::new(&b);
            on_b.cookies = on_a.cookies.clone();
            let home = on_b.get("/dashboard").await;
            assert_eq!(home.status, 200, "signed in on one process, known on the other");
            let csrf = home.csrf();
            assert_eq!(on_b.post("/dashboard/logout", &[("csrf", &csrf)]).await.location(), "/dashboard/login?out=1");
            assert_eq!(on_a.get("/dashboard").await.location(), "/dashboard/login?ended=1", "and ended on both");
        })
        .await
}

backend_tests! {
async fn the_password_asked_again_counts_failures_and_a_locked_user_is_refused() {
    let app = TestApp::spawn().await;
    user(&app, "dev@toko.co.id", Role::Developer).await;
    let mut d = Dash::new(&app);
    d.sign_in("dev@toko.co.id", PASSWORD).await;
    let csrf = d.get("/dashboard/webhooks").await.csrf();
    for _ in 0..4 {
        let no = d.post("/dashboard/webhooks/reveal", &[("csrf", &csrf), ("password", "guess guess guess")]).await;
        assert!(no.body.contains("Kata sandi salah"), "{}", no.body);
    }
    let locked = d.post("/dashboard/webhooks/reveal", &[("csrf", &csrf), ("password", "guess guess guess")]).await;
    assert!(locked.body.contains("dikunci sampai"), "{}", locked.body);
    let right = d.post("/dashboard/webhooks/reveal", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert!(!right.body.contains("id=\"secret\""), "no secret for a locked user, even with the password");
    let key = d.post("/dashboard/keys", &[("csrf", &csrf), ("mode", "test"), ("password", PASSWORD)]).await;
    assert!(!key.body.contains("id=\"made-secret\""));
}
}

backend_tests! {
async fn an_event_of_a_type_switched_off_is_not_resent() {
    let app = TestApp::spawn().await;
    let receiver = crate::helpers::Receiver::start().await;
    let id = app.kasir.create_payin(&new_payin(5_000_000).webhook_url(&receiver.url)).await.unwrap().id;
    // payin.created is recorded, and off by default.
    let created = ListParams::default().filter("object_id", &id).filter("type", "payin.created");
    let evt = app.kasir.events(created).next().await.unwrap().unwrap().id;
    assert_refused(app.kasir.resend_event(&evt).await, 400, 1002, "type");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.hits().is_empty());
}
}

backend_tests! {
async fn the_home_page_counts_the_months_failed_webhook_tries() {
    let app = TestApp::spawn().await;
    user(&app, "cs@toko.co.id", Role::Support).await;
    let nobody = new_payin(5_000_000).webhook_url("http://127.0.0.1:9/hook"); // nobody listens
    let id = app.kasir.create_payin(&nobody).await.unwrap().id;
    app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap();
    let awaiting = ListParams::default().filter("object_id", &id).filter("type", "payin.requires_action");
    let evt = app.kasir.events(awaiting).next().await.unwrap().unwrap().id;
    assert!(!crate::helpers::deliveries(&app.kasir, &evt, 1).await.is_empty(), "no try recorded");
    let mut d = Dash::new(&app);
    d.sign_in("cs@toko.co.id", PASSWORD).await;
    let home = d.get("/dashboard").await;
    assert!(home.body.contains("id=\"stat-webhooks\">1<"), "one failed try: {}", home.body);
    assert!(home.body.contains("id=\"stat-payins\">1<"));
}
}
