//! The checkout API, as Tazapay's and as its WooCommerce plugin uses it: create, fetch by either id,
//! expire (by hand and by time), list, the checkout following its payin, its events, and
//! `GET /v3/metadata/collect`.

use std::time::Duration;

use kasir_domain::{Clock, Timestamp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use kasir_client::{CustomerDetails, ListParams, NewCheckout};

use crate::helpers::{assert_refused, basic, confirm, Receiver, TestApp};

/// `checkout_body` as the SDK's request.
pub fn new_checkout(amount: i64) -> NewCheckout {
    let customer = CustomerDetails::new("Andrea Lark", "andrea@example.com", "ID");
    NewCheckout::new(
        "IDR",
        amount,
        "2 x Kopi Susu",
        customer,
        "https://shop.example/thanks",
        "https://shop.example/cart",
    )
}

pub fn checkout_body(amount: i64) -> Value {
    json!({
        "invoice_currency": "IDR",
        "amount": amount,
        "transaction_description": "2 x Kopi Susu",
        "customer_details": {"name": "Andrea Lark", "email": "andrea@example.com", "country": "ID"},
        "success_url": "https://shop.example/thanks",
        "cancel_url": "https://shop.example/cart",
    })
}

/// What Tazapay's WooCommerce plugin sends for an order (its field names, float amounts, and the
/// fields Kasir has no use for), for order `order`, expiring at `expires_at`.
fn plugin_body(order: u32, expires_at: &str, name: &str) -> Value {
    json!({
        "amount": 15000000.0,
        "invoice_currency": "IDR",
        "transaction_description": "Toko Kopi : 2 x Kopi Susu, 1 x Roti",
        "txn_source_category": "woocommerce",
        "txn_source": "4.0.0",
        "webhook_url": format!("http://127.0.0.1:9/?wc-api=payment&order_id={order}"),
        "success_url": format!("https://shop.example/checkout/order-received/{order}/?key=wc_order_AbC123"),
        "cancel_url": "https://shop.example/checkout/",
        "shipping_details": {"name": " ", "address": {"line1": "", "line2": "", "city": "", "state": "", "postal_code": "", "country": ""}},
        "billing_details": {"name": name, "address": {"line1": "Jl. Sudirman 1", "line2": "", "city": "Jakarta", "state": "ID-JK", "postal_code": "10220", "country": "ID"},
                            "phone": {"country_code": "62", "number": "+62 812-3456-7890"}},
        "customer_details": {"email": "andrea@example.com", "name": name, "country": "ID",
                             "phone": {"country_code": "62", "number": "+62 812-3456-7890"}},
        "same_as_billing_address": false,
        "expires_at": expires_at,
        "reference_id": order.to_string(),
        "items": [{"name": "Kopi Susu", "quantity": 2, "amount": 2500000.0, "description": "<p>Es kopi susu</p>"},
                  {"name": "Roti", "quantity": 1, "amount": 1000000.0, "description": ""}],
        "remove_payment_methods": ["wire_transfer", "card"],
    })
}

fn plus(app: &TestApp, d: Duration) -> String {
    app.clock.now().plus(d).to_rfc3339()
}

/// A request as HTTP/1.0 (how the plugin asks WordPress to send it): the connection closes after it.
async fn http10(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    conn.write_all(format!("{head}\r\n{body}").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut raw)).await.expect("closed").unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (status_line, rest) = text.split_once("\r\n").unwrap();
    assert!(status_line.starts_with("HTTP/1."), "{status_line}");
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let body = rest.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

backend_tests! {
async fn a_checkout_is_created_with_its_payin_and_customer_and_read_by_either_id() {
    let app = TestApp::spawn().await;
    let c = app.kasir.create_checkout(&new_checkout(15_000_000)).await.unwrap();
    assert!(crate::helpers::is_id(&json!(c.id), "chk_"), "{c:?}");
    assert_eq!((c.extra["object"].clone(), c.status.as_str(), c.extra["payment_status"].clone()), (json!("checkout"), "active", json!("unpaid")));
    assert_eq!(c.url, format!("{}/checkout/{}", app.base, c.token), "the page, its token last");
    assert!(c.token.len() >= 32 && !c.token.contains(['/', '?', '#']), "{}", c.token);
    assert_eq!((c.amount, c.extra["amount_paid"].clone(), c.extra["invoice_currency"].clone()), (15_000_000, json!(0), json!("IDR")));
    assert_eq!(c.extra["payment_methods"], json!(["ovo_idr"]));
    assert_eq!(c.extra["payment_attempts"], json!([]));
    assert_eq!(c.extra["customer_details"]["name"], "Andrea Lark");
    let created = Timestamp::parse_rfc3339(&c.created_at).unwrap();
    let expires = Timestamp::parse_rfc3339(c.extra["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires, created.plus(Duration::from_secs(24 * 3600)), "24 hours by default");

    // The payin behind it carries the same amount, URLs and customer.
    let p = app.kasir.payin(&c.payin).await.unwrap();
    assert_eq!((p.amount, p.status.as_str()), (15_000_000, "requires_payment_method"));
    assert_eq!((&p.extra["success_url"], &p.extra["cancel_url"]), (&c.extra["success_url"], &c.extra["cancel_url"]));
    assert!(p.extra["customer"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(p.extra["customer"], c.extra["customer"]);
    let customer = app.kasir.customer(c.extra["customer"].as_str().unwrap()).await.unwrap();
    assert_eq!(customer.email, "andrea@example.com");

    // GET by its own id and by its payin's (which Tazapay's plugin keeps) give the same object.
    assert_eq!(app.kasir.checkout(&c.id).await.unwrap(), c);
    assert_eq!(app.kasir.checkout(&c.payin).await.unwrap(), c);
    assert_refused(app.kasir.checkout("chk_aaaaaaaaaaaaaaaaaaaa").await, 404, 105, "id");

    // Listed, and filtered by status.
    let first = |status: &str| app.kasir.checkouts(ListParams::default().filter("status", status));
    assert_eq!(first("active").next().await.unwrap().map(|c| c.id), Some(c.id.clone()));
    assert_eq!(first("expired").next().await.unwrap(), None);
    assert_refused(first("gone").next().await, 400, 104, "status");
    // A payin's events: the checkout's creation is recorded (not sent by default).
    let mut events = app.kasir.events(ListParams::default().filter("object_id", &c.id));
    assert_eq!(events.next().await.unwrap().unwrap().kind, "checkout.created");
}
}

backend_tests! {
async fn bad_checkout_requests_are_refused_with_every_problem_and_write_nothing() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    let a = app.post("/v3/checkout", &json!({"amount": 100})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let remarks: Vec<&str> = a.body["errors"].as_array().unwrap().iter().map(|e| e["remarks"].as_str().unwrap()).collect();
    for field in ["invoice_currency", "customer_details", "success_url", "cancel_url", "transaction_description"] {
        assert!(remarks.contains(&field), "{field} in {remarks:?}");
    }
    let mut usd = checkout_body(1000);
    usd["invoice_currency"] = json!("USD");
    app.post("/v3/checkout", &usd).await.assert_error(400, 1003, "invoice_currency");
    let mut past = checkout_body(15_000_000);
    past["expires_at"] = json!(app.clock.now().minus(Duration::from_secs(1)).to_rfc3339());
    app.post("/v3/checkout", &past).await.assert_error(400, 1002, "expires_at");
    let mut far = checkout_body(15_000_000);
    far["expires_at"] = json!(plus(&app, Duration::from_secs(91 * 24 * 3600)));
    app.post("/v3/checkout", &far).await.assert_error(400, 1002, "expires_at");
    let mut none_left = checkout_body(15_000_000);
    none_left["remove_payment_methods"] = json!(["ovo_idr"]);
    app.post("/v3/checkout", &none_left).await.assert_error(400, 1007, "payment_methods");
    let mut bad_url = checkout_body(15_000_000);
    bad_url["success_url"] = json!("not a url");
    app.post("/v3/checkout", &bad_url).await.assert_error(400, 1002, "success_url");
    app.post("/v3/checkout", &checkout_body(100)).await.assert_error(400, 1005, "amount");
    app.post("/v3/checkout", &checkout_body(15_000_050)).await.assert_error(400, 1006, "amount");
    // Through the SDK, a form wrong in several fields hears of each.
    let wrong = NewCheckout {
        success_url: "not a url".into(),
        cancel_url: String::new(),
        transaction_description: String::new(),
        ..new_checkout(15_000_000)
    };
    match app.kasir.create_checkout(&wrong).await {
        Err(kasir_client::Error::Api { status: 400, errors, .. }) => {
            let mut fields: Vec<&str> = errors.iter().map(|e| e.remarks.as_str()).collect();
            fields.sort();
            assert_eq!(fields, ["cancel_url", "success_url", "transaction_description"], "{errors:?}");
            assert!(errors.iter().all(|e| e.code > 0 && !e.message.is_empty()), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.row_counts().await, before, "nothing written");
}
}

backend_tests! {
async fn what_tazapays_woocommerce_plugin_sends_works_and_its_retry_gets_the_first_checkout() {
    let app = TestApp::spawn().await;
    // Its key check: any currency answers success (USD has no method here), bad keys an error.
    let path = "/v3/metadata/collect?amount=1000&customer_country=US&invoice_currency=USD&account_country=US";
    let (status, body) = http10(&app, "GET", path, &[("Authorization", &app.test_auth), ("Content-Type", "application/json")], "").await;
    assert_eq!((status, body["status"].clone(), body["data"]["payment_methods"].clone()), (200, json!("success"), json!([])), "{body}");
    let wrong = basic("ak_test_NOSUCHKEY0000000000", &"x".repeat(128));
    let (status, body) = http10(&app, "GET", path, &[("Authorization", &wrong)], "").await;
    assert_eq!((status, body["status"].clone()), (401, json!("error")), "{body}");
    let idr = app.get("/v3/metadata/collect?amount=15000000&invoice_currency=idr").await;
    assert_eq!(idr.data()["payment_methods"][0]["type"], "ovo_idr", "{}", idr.body);
    let small = app.get("/v3/metadata/collect?amount=100&invoice_currency=IDR").await;
    assert_eq!(small.data()["payment_methods"], json!([]), "below OVO's minimum");

    // The checkout, over HTTP/1.0, keyed by the order id.
    // `expires_at` as PHP writes it: `Y-m-d\TH:i:s\Z`, whole seconds.
    let week = format!("{}Z", &plus(&app, Duration::from_secs(7 * 24 * 3600))[..19]);
    let body = plugin_body(1234, &week, "Andrea Lark").to_string();
    let headers = [("Authorization", app.test_auth.as_str()), ("Content-Type", "application/json"), ("Idempotency-Key", "1234")];
    let (status, first) = http10(&app, "POST", "/v3/checkout", &headers, &body).await;
    assert_eq!((status, first["status"].clone()), (200, json!("success")), "{first}");
    let c = &first["data"];
    assert_eq!(c["reference_id"], "1234");
    assert!(c["payin"].as_str().unwrap().starts_with("pay_"));
    assert!(c["url"].as_str().unwrap().ends_with(c["token"].as_str().unwrap()));
    assert_eq!(c["amount"], 15_000_000);
    assert_eq!(c["customer_details"]["phone"], json!({"calling_code": "62", "number": "81234567890"}), "country_code read, + written number taken");
    assert_eq!(c["items"][0]["amount"], json!(2500000.0));

    // The shopper retries: the same order id, a later expires_at and another name. The first checkout.
    let later = plus(&app, Duration::from_secs(7 * 24 * 3600 + 60));
    let retry = plugin_body(1234, &later, "Andrea L.").to_string();
    let (status, again) = http10(&app, "POST", "/v3/checkout", &headers, &retry).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"], first["data"], "the first checkout, as it was");
    assert_eq!(app.get("/v3/checkout").await.data()["data"].as_array().unwrap().len(), 1);
    // The same key for another payment is still refused.
    let mut other = plugin_body(1234, &later, "Andrea Lark");
    other["amount"] = json!(16000000.0);
    let (status, refused) = http10(&app, "POST", "/v3/checkout", &headers, &other.to_string()).await;
    assert_eq!((status, refused["errors"][0]["code"].clone()), (422, json!(1103)), "{refused}");

    // It reads the checkout back by the payin id, and refunds by it with an empty payment_attempt.
    let (status, read) = http10(&app, "GET", &format!("/v3/checkout/{}", c["payin"].as_str().unwrap()), &[("Authorization", &app.test_auth), ("Accept", "application/json")], "").await;
    assert_eq!((status, read["data"]["payin"].clone(), read["data"]["invoice_currency"].clone()), (200, c["payin"].clone(), json!("IDR")));
}
}

backend_tests! {
async fn the_checkout_follows_its_payin_and_sends_checkout_paid() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let c = app.kasir.create_checkout(&NewCheckout { webhook_url: Some(receiver.url.clone()), ..new_checkout(15_000_000) }).await.unwrap();
    // Confirmed through the payin API, the checkout follows.
    let confirmed = app.kasir.confirm_payin_with(&c.payin, &confirm("81234567890")).await.unwrap();
    let now = app.kasir.checkout(&c.id).await.unwrap();
    assert_eq!(now.extra["payment_status"], "processing");
    let pat = confirmed.latest_payment_attempt;
    assert_eq!(now.extra["payment_attempts"][0]["id"], pat.as_str());
    // payment_attempt.created is recorded (off by default).
    let created = ListParams::default().filter("object_id", &pat).filter("type", "payment_attempt.created");
    let mut created = app.kasir.events(created);
    assert!(created.next().await.unwrap().is_some());
    assert_eq!(created.next().await.unwrap(), None);

    app.kasir.sandbox_attempt(&pat, true, None).await.unwrap();
    let hits = receiver.wait_for(10, |h| h.iter().any(|h| h.json()["type"] == "checkout.paid")).await;
    let paid = hits.iter().find(|h| h.json()["type"] == "checkout.paid").unwrap().json();
    assert_eq!((paid["data"]["payment_status"].clone(), paid["data"]["amount_paid"].clone()), (json!("paid"), json!(15_000_000)));
    assert_eq!(paid["data"]["id"], c.id.as_str());
    app.idle().await;
    let types: Vec<String> = receiver.hits().iter().map(|h| h.json()["type"].as_str().unwrap().to_string()).collect();
    assert!(types.contains(&"payin.succeeded".to_string()), "the payin's own events go on: {types:?}");
    assert!(!types.contains(&"checkout.created".to_string()) && !types.contains(&"payment_attempt.created".to_string()), "off by default: {types:?}");
    assert_eq!(types.iter().filter(|t| *t == "checkout.paid").count(), 1, "{types:?}");
    let after = app.kasir.checkout(&c.id).await.unwrap();
    assert_eq!((after.status.as_str(), after.extra["payment_status"].clone()), ("active", json!("paid")));
    // A paid checkout cannot expire.
    assert_refused(app.kasir.expire_checkout(&c.id).await, 409, 19627, "payment_status");
}
}

backend_tests! {
async fn a_checkout_expires_by_hand_or_by_time_and_cancels_its_unpaid_payin() {
    // The sandbox answers after the checkout's time; the customer has 15 minutes to approve.
    let settings = crate::helpers::Settings {
        sandbox_delay: Duration::from_secs(7200),
        approval_window: Duration::from_secs(900),
        ..Default::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let receiver = Receiver::start().await;
    let c = app.kasir.create_checkout(&NewCheckout { webhook_url: Some(receiver.url.clone()), ..new_checkout(15_000_000) }).await.unwrap();
    let expired = app.kasir.expire_checkout(&c.id).await.unwrap();
    assert_eq!(expired.status, "expired");
    assert_eq!(app.kasir.payin(&c.payin).await.unwrap().status, "cancelled");
    receiver.wait_for(10, |h| h.iter().any(|h| h.json()["type"] == "checkout.expired")).await;
    assert_refused(app.kasir.expire_checkout(&c.id).await, 409, 19626, "status");
    assert_refused(app.kasir.confirm_payin_with(&c.payin, &confirm("81234567890")).await, 409, 19626, "status");

    // One whose push awaits the customer cannot be expired by hand...
    let short = NewCheckout { expires_at: Some(plus(&app, Duration::from_secs(600))), ..new_checkout(15_000_000) };
    let c2 = app.kasir.create_checkout(&short).await.unwrap();
    let confirmed = app.kasir.confirm_payin_with(&c2.payin, &confirm("81234567890")).await.unwrap();
    assert_refused(app.kasir.expire_checkout(&c2.id).await, 409, 19627, "payment_status");
    // ...and at its expires_at waits for the push's outcome; once the push has failed, it expires.
    app.advance(Duration::from_secs(601)).await;
    app.idle().await;
    let waiting = app.kasir.checkout(&c2.id).await.unwrap();
    assert_eq!((waiting.status.as_str(), waiting.extra["payment_status"].clone()), ("active", json!("processing")));
    app.kasir.sandbox_attempt(&confirmed.latest_payment_attempt, false, Some("declined")).await.unwrap();
    app.advance(Duration::from_secs(300)).await;
    app.idle().await;
    let gone = app.kasir.checkout(&c2.id).await.unwrap();
    assert_eq!((gone.status.as_str(), gone.extra["payment_status"].clone()), ("expired", json!("unpaid")));
    assert_eq!(app.kasir.payin(&c2.payin).await.unwrap().status, "cancelled");
}
}
