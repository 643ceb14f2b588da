//! Refunds: the rules, the races, the lifecycle and its webhooks.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{confirm_body, payin_body, quick_rules, Receiver, TestApp};

/// A payin paid with `number`, its events going to `url` (if any). Returns (payin id, attempt id).
async fn paid(app: &TestApp, amount: i64, number: &str, url: Option<&str>) -> (String, String) {
    let mut body = payin_body(amount);
    if let Some(u) = url {
        body["webhook_url"] = json!(u);
    }
    let id = app.post("/v3/payin", &body).await.id();
    let c = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body(number)).await;
    let pat = c.data()["latest_payment_attempt"].as_str().unwrap().to_string();
    let s = app.post(&format!("/v3/sandbox/payment_attempt/{pat}/succeed"), &json!({})).await;
    assert_eq!(s.status, 200, "{}", s.body);
    (id, pat)
}

backend_tests! {
async fn the_seed_refund_goes_pending_then_succeeds_with_webhooks_to_its_own_url() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(70))).await;
    let payin_hooks = Receiver::start().await;
    let refund_hooks = Receiver::start().await;
    let (id, pat) = paid(&app, 10_000_000 - 100, "81234567890", Some(&payin_hooks.url)).await;
    let payin_amount = 10_000_000 - 100;
    // The seed's request, with its own webhook_url.
    let r = app
        .post(
            "/v3/refund",
            &json!({"payin": id, "amount": payin_amount, "currency": "IDR", "reason": "Customer Return",
                    "webhook_url": refund_hooks.url}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refund = r.data().clone();
    let rid = refund["id"].as_str().unwrap().to_string();
    assert!(crate::helpers::is_id(&refund["id"], "rfd_"));
    for (k, v) in [
        ("object", json!("refund")),
        ("payin", json!(id)),
        ("payment_attempt", json!(pat)),
        ("amount", json!(payin_amount)),
        ("currency", json!("IDR")),
        ("customer_receives", json!({"amount": payin_amount, "currency": "IDR"})),
        ("reason", json!("Customer Return")),
        ("status", json!("pending")),
        ("status_description", json!("")),
        ("reference_id", json!("")),
        ("webhook_url", json!(refund_hooks.url)),
        ("metadata", Value::Null),
    ] {
        assert_eq!(refund[k], v, "{k}");
    }
    assert!(crate::helpers::is_timestamp(&refund["created_at"]));
    let hits = refund_hooks.wait_for(5, |h| h.len() == 1).await;
    assert_eq!(hits[0].json()["type"], "refund.pending");

    app.advance(Duration::from_secs(70)).await;
    let hits = refund_hooks.wait_for(5, |h| h.len() == 2).await;
    assert_eq!(hits[1].json()["type"], "refund.succeeded");
    assert_eq!(hits[1].json()["data"]["status"], "succeeded");
    assert!(payin_hooks.of_type("refund.succeeded").is_empty(), "refund events go to the refund's URL");

    assert_eq!(app.get(&format!("/v3/refund/{rid}")).await.data()["status"], "succeeded");
    assert_eq!(app.get(&format!("/v3/payment_attempt/{pat}")).await.data()["refunded"], true);
    let list = app.get(&format!("/v3/refund?payin={id}")).await;
    assert_eq!(list.data()["data"][0]["id"], rid.as_str());
    assert_eq!(list.data()["has_more"], false);
}
}

backend_tests! {
async fn without_amount_and_currency_the_refund_is_full_and_events_fall_back_to_the_payins_url() {
    let app = TestApp::spawn().await;
    let hooks = Receiver::start().await;
    let (id, _) = paid(&app, 5_000_000, "81234567890", Some(&hooks.url)).await;
    let r = app.post("/v3/refund", &json!({"payin": id})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.data()["amount"], 5_000_000);
    assert_eq!(r.data()["currency"], "IDR");
    hooks.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.pending")).await;
}
}

backend_tests! {
async fn every_refund_rule_answers_with_its_code_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (paid_id, paid_pat) = paid(&app, 5_000_000, "81234567890", None).await;
    let unpaid = app.create_payin(5_000_000).await;
    let (refunded, _) = paid(&app, 5_000_000, "81234567890", None).await;
    let first = app.post("/v3/refund", &json!({"payin": refunded})).await;
    assert_eq!(first.status, 200);
    app.post(&format!("/v3/sandbox/refund/{}/succeed", first.id()), &json!({})).await;
    let long_reason = "x".repeat(256);

    let before = app.row_counts().await;
    let cases: Vec<(&str, Value, u16, u64, &str)> = vec![
        ("payin not succeeded", json!({"payin": unpaid}), 409, 30009, "payin"),
        ("partial refund of ovo_idr", json!({"payin": paid_id, "amount": 1_000_000}), 400, 30021, "amount"),
        (
            "partial refund by currency and amount",
            json!({"payin": paid_id, "amount": 4_999_900, "currency": "IDR"}),
            400,
            30021,
            "amount",
        ),
        ("more than refundable", json!({"payin": paid_id, "amount": 6_000_000}), 400, 30012, "amount"),
        ("second refund of a refunded payin", json!({"payin": refunded}), 409, 30010, "payin"),
        ("zero amount", json!({"payin": paid_id, "amount": 0}), 400, 30002, "amount"),
        ("negative amount", json!({"payin": paid_id, "amount": -5_000_000}), 400, 30002, "amount"),
        ("other currency", json!({"payin": paid_id, "currency": "USD"}), 400, 30004, "currency"),
        ("bad webhook url", json!({"payin": paid_id, "webhook_url": "not a url"}), 400, 30005, "webhook_url"),
        ("unknown payin", json!({"payin": "pay_aaaaaaaaaaaaaaaaaaaa"}), 404, 30000, "payin"),
        ("unknown attempt", json!({"payment_attempt": "pat_aaaaaaaaaaaaaaaaaaaa"}), 404, 30000, "payment_attempt"),
        ("no payin", json!({"amount": 5_000_000}), 400, 30007, "payin"),
        ("blank payin", json!({"payin": " "}), 400, 30007, "payin"),
        ("reason too long", json!({"payin": paid_id, "reason": long_reason}), 400, 30015, "reason"),
        ("amount as string", json!({"payin": paid_id, "amount": "5000000"}), 400, 100, "amount"),
    ];
    for (name, body, status, code, remarks) in cases {
        let a = app.post("/v3/refund", &body).await;
        assert_eq!((a.status, a.body["errors"][0]["code"].as_u64()), (status, Some(code)), "{name}: {}", a.body);
        a.assert_error(status, code, remarks);
        assert_eq!(app.row_counts().await, before, "{name} wrote to the database");
    }
    // A live key cannot refund a test payin.
    let live =
        app.send("POST", "/v3/refund", Some(&app.live_auth), &[], Some(&json!({"payin": paid_id}).to_string())).await;
    live.assert_error(404, 30000, "payin");
    // The attempt route works too.
    let by_attempt = app.post("/v3/refund", &json!({"payment_attempt": paid_pat})).await;
    assert_eq!(by_attempt.status, 200, "{}", by_attempt.body);
    assert_eq!(by_attempt.data()["payin"], paid_id.as_str());
    let unknown = app.get("/v3/refund/rfd_aaaaaaaaaaaaaaaaaaaa").await;
    unknown.assert_error(404, 105, "id");
}
}

backend_tests! {
async fn ten_parallel_full_refunds_make_exactly_one() {
    let app = TestApp::spawn().await;
    let (id, _) = paid(&app, 5_000_000, "81234567890", None).await;
    let body = json!({"payin": id});
    let answers = join_all((0..10).map(|_| app.post("/v3/refund", &body))).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1);
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(409, 30010, "payin");
    }
    assert_eq!(app.count("refunds").await, 1);
}
}

backend_tests! {
async fn an_idempotency_key_replay_returns_the_same_refund() {
    let app = TestApp::spawn().await;
    let (id, _) = paid(&app, 5_000_000, "81234567890", None).await;
    let body = json!({"payin": id, "reason": "Customer Return"});
    let answers = join_all((0..10).map(|_| app.post_with_key("/v3/refund", &body, "refund-1"))).await;
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!ok.is_empty());
    assert!(ok.iter().all(|a| a.bytes == ok[0].bytes));
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(409, 1102, "Idempotency-Key");
    }
    let again = app.post_with_key("/v3/refund", &body, "refund-1").await;
    assert_eq!(again.bytes, ok[0].bytes);
    assert_eq!(app.count("refunds").await, 1);
}
}

backend_tests! {
async fn a_refund_fails_for_the_closed_wallet_number_and_the_payin_can_be_refunded_again() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(70))).await;
    let hooks = Receiver::start().await;
    let (id, pat) = paid(&app, 5_000_000, "81100000333", Some(&hooks.url)).await;
    let r = app.post("/v3/refund", &json!({"payin": id})).await;
    let rid = r.id();
    app.advance(Duration::from_secs(70)).await;
    let hits = hooks.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.failed")).await;
    let failed = hits.iter().find(|h| h.json()["type"] == "refund.failed").unwrap().json();
    assert_eq!(failed["data"]["id"], rid.as_str());
    assert!(failed["data"]["status_description"].as_str().unwrap().starts_with("wallet_closed"));
    assert_eq!(app.get(&format!("/v3/payment_attempt/{pat}")).await.data()["refunded"], false);
    // A failed refund leaves the payin refundable.
    let again = app.post("/v3/refund", &json!({"payin": id})).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(again.id(), rid);
}
}

backend_tests! {
async fn the_sandbox_control_settles_refunds_for_test_keys_only() {
    let app = TestApp::spawn().await;
    let (id, pat) = paid(&app, 5_000_000, "81234567890", None).await;
    let rid = app.post("/v3/refund", &json!({"payin": id})).await.id();
    let live = app.send("POST", &format!("/v3/sandbox/refund/{rid}/succeed"), Some(&app.live_auth), &[], None).await;
    live.assert_error(404, 105, "path");
    let bad = app.post(&format!("/v3/sandbox/refund/{rid}/fail"), &json!({"reason": "meh"})).await;
    bad.assert_error(400, 1002, "reason");
    let failed = app.post(&format!("/v3/sandbox/refund/{rid}/fail"), &json!({"reason": "wallet_closed"})).await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(failed.data()["status"], "failed");
    let twice = app.post(&format!("/v3/sandbox/refund/{rid}/succeed"), &json!({})).await;
    twice.assert_error(409, 19627, "status");
    let rid2 = app.post("/v3/refund", &json!({"payin": id})).await.id();
    let ok = app.post(&format!("/v3/sandbox/refund/{rid2}/succeed"), &json!({})).await;
    assert_eq!(ok.data()["status"], "succeeded");
    assert_eq!(app.get(&format!("/v3/payment_attempt/{pat}")).await.data()["refunded"], true);
    let after = app.post("/v3/refund", &json!({"payin": id})).await;
    after.assert_error(409, 30010, "payin");
}
}
