//! What a hostile client tried, and what it gets now: the same answer on both backends, always in the
//! envelope, and nothing written by a request that fails.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{basic, confirm_body, payin_body, TestApp};

/// Creates and confirms a payin, then resolves its attempt with the sandbox control; returns the
/// payin and attempt ids.
async fn resolved(app: &TestApp, outcome: &str) -> (String, String) {
    let p = app.confirmed_payin(5_000_000).await;
    let (id, pat) = (p.id, p.latest_payment_attempt);
    let a = app.post(&format!("/v3/sandbox/payment_attempt/{pat}/{outcome}"), &json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    (id, pat)
}

backend_tests! {
async fn a_nul_byte_names_nothing_on_either_backend() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    app.get("/v3/payin/pay_%00").await.assert_error(404, 105, "id");
    app.get("/v3/payment_attempt/pat_%00").await.assert_error(404, 105, "id");
    app.get("/v3/payin?starting_after=%00").await.assert_error(400, 104, "starting_after");
    for path in ["/v3/event?object_id=%00", "/v3/refund?payin=a%00"] {
        let a = app.get(path).await;
        assert_eq!((a.status, a.data()["data"].clone()), (200, json!([])), "{path}: {}", a.body);
    }
    let nul_key = basic("ak_test_\0A", "sk_test_x");
    app.send("GET", "/v3/payin", Some(&nul_key), &[], None).await.assert_error(401, 111, "Authorization");
    let mut body = payin_body(5_000_000);
    body["customer"] = json!("cus_\u{0}");
    app.post("/v3/payin", &body).await.assert_error(404, 105, "customer");
    app.post("/v3/refund", &json!({"payin": "pay_\u{0}"})).await.assert_error(404, 30000, "payin");
    assert_eq!(app.row_counts().await, before, "nothing written");
}
}

backend_tests! {
async fn a_refund_naming_an_attempt_must_name_a_succeeded_attempt_of_that_payin() {
    let app = TestApp::spawn().await;
    let (paid, paid_pat) = resolved(&app, "succeed").await;
    let (_, other_pat) = resolved(&app, "succeed").await;
    let (failed_payin, failed_pat) = resolved(&app, "fail").await;
    // A second, succeeded attempt on the payin whose first attempt failed.
    let again = app.post(&format!("/v3/payin/{failed_payin}/confirm"), &confirm_body("81234567890")).await;
    let again_pat = again.data()["latest_payment_attempt"].as_str().unwrap().to_string();
    app.post(&format!("/v3/sandbox/payment_attempt/{again_pat}/succeed"), &json!({})).await;

    let before = app.row_counts().await;
    for (attempt, why) in [
        (other_pat.as_str(), "another payin's attempt"),
        ("pat_aaaaaaaaaaaaaaaaaaaa", "no such attempt"),
    ] {
        let a = app.post("/v3/refund", &json!({"payin": paid, "payment_attempt": attempt})).await;
        a.assert_error(404, 30000, "payment_attempt");
        assert!(!a.body["message"].as_str().unwrap().is_empty(), "{why}");
    }
    let a = app.post("/v3/refund", &json!({"payin": failed_payin, "payment_attempt": failed_pat})).await;
    a.assert_error(404, 30000, "payment_attempt");
    assert!(a.body["message"].as_str().unwrap().contains("did not succeed"), "{}", a.body);
    assert_eq!(app.row_counts().await, before, "no refusal wrote anything");

    // An empty `payment_attempt`, as Tazapay's WooCommerce plugin sends on every refund, is no attempt.
    let a = app.post("/v3/refund", &json!({"payin": paid, "payment_attempt": ""})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["payment_attempt"], paid_pat.as_str());
    // The payin with its own succeeded attempt, both named, is refunded.
    let a = app.post("/v3/refund", &json!({"payin": failed_payin, "payment_attempt": again_pat})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["payment_attempt"], again_pat.as_str());
}
}

backend_tests! {
async fn a_body_is_one_json_value_and_nothing_after_it() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    let one = payin_body(5_000_000).to_string();
    for body in [format!("{one}garbage"), format!("{one}{one}"), format!("{one} ]")] {
        let a = app.send("POST", "/v3/payin", Some(&app.test_auth), &[], Some(&body)).await;
        a.assert_error(400, 100, "body");
    }
    assert_eq!(app.row_counts().await, before, "nothing created");
    let padded = app.send("POST", "/v3/payin", Some(&app.test_auth), &[], Some(&format!(" {one} \n"))).await;
    assert_eq!(padded.status, 200, "white space around the value is fine: {}", padded.body);
}
}

backend_tests! {
async fn documents_and_items_must_be_objects_as_the_document_says() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    for field in ["items", "transaction_documents"] {
        let mut body = payin_body(5_000_000);
        body[field] = json!([{"name": "ok"}, [null, null]]);
        app.post("/v3/payin", &body).await.assert_error(400, 100, &format!("{field}[1]"));
    }
    assert_eq!(app.row_counts().await, before, "nothing written");
    let id = app.create_payin(5_000_000).await;
    let a = app.put(&format!("/v3/payin/{id}"), &json!({"transaction_documents": ["a"]})).await;
    a.assert_error(400, 100, "transaction_documents[0]");
    let p = app.get(&format!("/v3/payin/{id}")).await;
    assert!(p.data()["transaction_documents"].as_array().is_none_or(|d| d.is_empty()), "{}", p.body);
}

async fn a_fail_control_takes_a_null_body_as_no_body() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(5_000_000).await;
    let pat = &p.latest_payment_attempt;
    let path = format!("/v3/sandbox/payment_attempt/{pat}/fail");
    let a = app.send("POST", &path, Some(&app.test_auth), &[], Some("null")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let attempt = app.get(&format!("/v3/payment_attempt/{pat}")).await;
    assert_eq!(attempt.data()["status"], "failed", "{}", attempt.body);
    let why = attempt.data()["status_description"].as_str().unwrap();
    assert!(why.starts_with("declined:"), "{why}");
}

async fn errors_that_never_reach_a_handler_answer_in_the_envelope() {
    let app = TestApp::spawn().await;
    let a = app.get("/v3/payin/%FF%FE").await;
    a.assert_error(400, 103, "id");
    assert_eq!(a.headers["content-type"], "application/json");

    let (_, pat) = resolved(&app, "succeed").await;
    let big = format!(r#"{{"reason": "{}"}}"#, "x".repeat(300 * 1024));
    let a = app.send("POST", &format!("/v3/sandbox/payment_attempt/{pat}/fail"), Some(&app.test_auth), &[], Some(&big)).await;
    a.assert_error(413, 100, "body");
    let a = app.send("POST", "/v3/refund", Some(&app.test_auth), &[], Some(&big)).await;
    a.assert_error(413, 100, "body");

    // A declared length over the limit is refused at once, before any of the body is sent.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v3/payin HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n",
        app.test_auth
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut got = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut got)).await.expect("an answer before the body").unwrap();
    let text = String::from_utf8_lossy(&got[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or(Value::Null);
    assert_eq!(body["errors"][0]["code"], 100, "{text}");
}
}

backend_tests! {
async fn amounts_are_whole_numbers_however_they_are_written() {
    let app = TestApp::spawn().await;
    let raw = |amount: &str| format!(r#"{{"invoice_currency":"IDR","amount":{amount},"transaction_description":"1 X Good"}}"#);
    let a = app.send("POST", "/v3/payin", Some(&app.test_auth), &[], Some(&raw("20000000.0"))).await;
    assert_eq!((a.status, a.data()["amount"].clone()), (200, json!(20000000)), "{}", a.body);
    let a = app.send("POST", "/v3/payin", Some(&app.test_auth), &[], Some(&raw("20000000.5"))).await;
    a.assert_error(400, 1008, "amount");
    assert!(a.body["message"].as_str().unwrap().contains("whole number"), "{}", a.body);
}
}

backend_tests! {
async fn an_empty_filter_is_not_a_value_of_it() {
    let app = TestApp::spawn().await;
    app.get("/v3/payin?status=").await.assert_error(400, 104, "status");
    app.get("/v3/event?type=").await.assert_error(400, 104, "type");
}
}
