//! The hosted pages over plain HTTP, on both backends: what a browser is sent (headers, weight), the
//! forms' protection, the push limit, and the pages a payin's `client_token` opens. The same pages in
//! a real browser are in `browser.rs`.

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::TestApp;

/// What a browser got for one request.
struct Got {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// A browser without script: follows no redirect by itself, keeps the cookies it is given.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: Vec<String>,
}

impl Visitor {
    fn new(app: &TestApp) -> Visitor {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Visitor { http, base: app.base.clone(), cookies: Vec::new() }
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for c in headers.get_all(SET_COOKIE) {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            self.cookies.retain(|k| !k.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    async fn get(&mut self, path: &str) -> Got {
        let res = self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookies.join("; "));
        let res = res.send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        self.keep(&headers);
        Got { status, headers, body: res.text().await.unwrap() }
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Got {
        let mut req = self.http.post(format!("{}{path}", self.base)).header("cookie", self.cookies.join("; "));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.form(form).send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        self.keep(&headers);
        Got { status, headers, body: res.text().await.unwrap() }
    }

    fn csrf(&self) -> String {
        self.cookies.iter().find_map(|c| c.strip_prefix("kasir_csrf=")).expect("a CSRF cookie").to_string()
    }
}

/// A checkout's page path and id.
async fn checkout(app: &TestApp) -> (String, String) {
    let mut new = crate::checkout::new_checkout(15_000_000);
    new.customer_details = new.customer_details.phone(kasir_client::Phone::indonesian("81234567890"));
    let c = app.kasir.create_checkout(&new).await.unwrap();
    (url::Url::parse(&c.url).unwrap().path().to_string(), c.id)
}

async fn attempts(app: &TestApp, checkout: &str) -> usize {
    app.kasir.checkout(checkout).await.unwrap().extra["payment_attempts"].as_array().unwrap().len()
}

backend_tests! {
async fn every_page_is_light_self_contained_and_sent_with_strict_headers() {
    let app = TestApp::spawn().await;
    let (page, _) = checkout(&app).await;
    let mut v = Visitor::new(&app);
    for path in [page.clone(), format!("{page}/ovo")] {
        let got = v.get(&path).await;
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        assert!(got.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert_eq!(got.headers["cache-control"], "no-store");
        assert_eq!(got.headers["referrer-policy"], "no-referrer");
        let csp = got.headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        for rule in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"] {
            assert!(csp.contains(rule), "{path}: {csp}");
        }
        // The one style and the one script run by their nonce; nothing else is loaded from anywhere.
        let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
        assert_eq!(got.body.matches("<script").count(), got.body.matches(&format!("<script nonce=\"{nonce}\"")).count());
        assert_eq!(got.body.matches("<style").count(), got.body.matches(&format!("<style nonce=\"{nonce}\"")).count());
        assert!(!got.body.contains(" src=") && !got.body.contains("<link"), "{path} loads nothing: {}", got.body);
        assert!(got.body.len() < 30 * 1024, "{path} weighs {} bytes", got.body.len());
    }
    // The script Tazapay's plugins load, by either of its names.
    for js in ["/js/v2.0.js?ver=6.7", "/js/v2.0-sandbox.js"] {
        let got = v.get(js).await;
        assert_eq!(got.status, 200, "{js}");
        assert!(got.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"), "{js}");
        assert!(got.body.contains("window.tazapay.checkout = checkout"), "{js}");
    }
    // Another load gets another nonce.
    let again = v.get(&page).await;
    let first = v.get(&page).await;
    assert_ne!(again.headers[CONTENT_SECURITY_POLICY], first.headers[CONTENT_SECURITY_POLICY]);
}
}

backend_tests! {
async fn a_form_without_its_csrf_token_or_from_another_site_sends_no_push() {
    let app = TestApp::spawn().await;
    let (page, id) = checkout(&app).await;
    let ovo = format!("{page}/ovo");
    let mut v = Visitor::new(&app);
    // No cookie, no token.
    let got = v.post(&ovo, &[("phone", "081234567890")], None).await;
    assert_eq!(got.status, 403, "{}", got.body);
    assert!(got.body.contains("Formulir kedaluwarsa"), "{}", got.body);
    // The cookie, but another token.
    v.get(&ovo).await;
    let got = v.post(&ovo, &[("csrf", "0123456789abcdef0123456789abcdef"), ("phone", "081234567890")], None).await;
    assert_eq!(got.status, 403);
    // The right token, from a page elsewhere.
    let csrf = v.csrf();
    let got = v.post(&ovo, &[("csrf", &csrf), ("phone", "081234567890")], Some("https://evil.example")).await;
    assert_eq!(got.status, 403);
    assert_eq!(attempts(&app, &id).await, 0, "nothing was sent");
    assert_eq!(app.kasir.checkout(&id).await.unwrap().extra["payment_status"], "unpaid");
}
}

backend_tests! {
async fn bayar_confirms_like_the_api_and_shows_the_number_masked() {
    let app = TestApp::spawn().await;
    let (page, id) = checkout(&app).await;
    let ovo = format!("{page}/ovo");
    let mut v = Visitor::new(&app);
    let landing = v.get(&ovo).await;
    assert!(landing.body.contains("value=\"081234567890\""), "the shop's number is offered: {}", landing.body);
    let csrf = v.csrf();
    // A number that is not one is said so, and sends nothing.
    let bad = v.post(&ovo, &[("csrf", &csrf), ("phone", "12")], None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("bukan nomor ponsel Indonesia"), "{}", bad.body);
    assert_eq!(attempts(&app, &id).await, 0);
    let sent = v.post(&ovo, &[("csrf", &csrf), ("phone", "0812-3456-7890")], None).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(sent.headers[LOCATION], format!("{page}/status"));
    let c = app.kasir.checkout(&id).await.unwrap();
    assert_eq!(c.extra["payment_status"], "processing");
    let payin = app.kasir.payin(&c.payin).await.unwrap();
    assert_eq!(payin.status, "requires_action");
    assert_eq!(payin.extra["payment_method_details"]["ovo_idr"]["phone"]["number"], "81234567890");
    let waiting = v.get(&format!("{page}/status")).await;
    assert!(waiting.body.contains("+62 *******7890") && !waiting.body.contains("81234567890"), "{}", waiting.body);
    // Pressing again while the push waits sends no second push.
    let twice = v.post(&ovo, &[("csrf", &csrf), ("phone", "0812-3456-7890")], None).await;
    assert_eq!(twice.status, 303);
    assert_eq!(attempts(&app, &id).await, 1);
}
}

backend_tests! {
async fn at_most_five_pushes_are_sent_from_one_checkout() {
    let app = TestApp::spawn().await;
    let (page, id) = checkout(&app).await;
    let ovo = format!("{page}/ovo");
    let mut v = Visitor::new(&app);
    v.get(&ovo).await;
    let csrf = v.csrf();
    for n in 1..=5 {
        let sent = v.post(&ovo, &[("csrf", &csrf), ("phone", "0811 0000 0017")], None).await;
        assert_eq!(sent.status, 303, "push {n}: {}", sent.body);
        app.advance(kasir::Config::new("").sandbox_delay + Duration::from_secs(1)).await;
        app.idle().await;
    }
    assert_eq!(attempts(&app, &id).await, 5);
    let last = v.get(&ovo).await;
    assert!(last.body.contains("Sudah lima permintaan dikirim"), "{}", last.body);
    assert!(!last.body.contains("name=\"phone\""), "no form is offered: {}", last.body);
    let sixth = v.post(&ovo, &[("csrf", &csrf), ("phone", "081234567890")], None).await;
    assert_eq!(sixth.status, 409);
    assert_eq!(attempts(&app, &id).await, 5, "no sixth push");
}
}

backend_tests! {
async fn a_payins_client_token_opens_its_page_and_nothing_else_does() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/v3/payin", &json!({"invoice_currency": "IDR", "amount": 5_000_000, "transaction_description": "1 X Good"}))
        .await;
    let token = created.data()["client_token"].as_str().unwrap().to_string();
    let id = created.id();
    let mut v = Visitor::new(&app);
    let page = v.get(&format!("/pay/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Rp 50.000") && page.body.contains("name=\"phone\""), "{}", page.body);
    for wrong in [format!("/pay/{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), format!("/pay/{id}"), "/checkout/nothing".into()] {
        let got = v.get(&wrong).await;
        assert_eq!(got.status, 404, "{wrong}");
        assert!(got.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{wrong}: a page, not JSON");
    }
    let csrf = v.csrf();
    let sent = v.post(&format!("/pay/{token}"), &[("csrf", &csrf), ("phone", "081234567890")], None).await;
    assert_eq!(sent.status, 303);
    assert_eq!(app.kasir.payin(&id).await.unwrap().status, "requires_action");
    let live = v.get(&format!("/pay/{token}/status.json")).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&live.body).unwrap()["state"], "waiting");
}
}

backend_tests! {
async fn the_shops_number_is_offered_however_written_and_a_refused_push_is_explained() {
    let app = TestApp::spawn().await;
    // Tazapay's plugin sends the billing phone as the shopper typed it, with `country_code`.
    let mut body = crate::checkout::checkout_body(15_000_000);
    body["customer_details"]["phone"] = json!({"country_code": "62", "number": "0812-3456-7890"});
    let a = app.post("/v3/checkout", &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let page = url::Url::parse(a.data()["url"].as_str().unwrap()).unwrap().path().to_string();
    let mut v = Visitor::new(&app);
    let landing = v.get(&format!("{page}/ovo")).await;
    assert!(landing.body.contains("value=\"081234567890\""), "{}", landing.body);

    // A payin OVO cannot take (over its Rp 20.000.000 a payment): the page says so and sends nothing.
    let big = app.kasir.create_payin(&kasir_client::NewPayin::new("IDR", 2_500_000_000, "1 X Sofa")).await.unwrap();
    let token = big.client_token.clone();
    v.get(&format!("/pay/{token}")).await;
    let csrf = v.csrf();
    let refused = v.post(&format!("/pay/{token}"), &[("csrf", &csrf), ("phone", "081234567890")], None).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("tidak bisa dibayar dengan OVO"), "{}", refused.body);
    assert_eq!(app.kasir.payin(&big.id).await.unwrap().status, "requires_payment_method");
}
}
