//! Refunds: the rules, the races, the lifecycle and its webhooks.

use std::time::Duration;

use futures::future::join_all;
use kasir_client::NewRefund;
use serde_json::{json, Value};

use crate::helpers::{assert_refused, quick_rules, Receiver, TestApp};

fn whole(payin: &str) -> NewRefund {
    NewRefund { payin: payin.into(), ..NewRefund::default() }
}

backend_tests! {
async fn the_seed_refund_goes_pending_then_succeeds_with_webhooks_to_its_own_url() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(70))).await;
    let payin_hooks = Receiver::start().await;
    let refund_hooks = Receiver::start().await;
    let payin_amount = 10_000_000 - 100;
    let paid = app.paid_payin(payin_amount, "81234567890", Some(&payin_hooks.url)).await;
    // The seed's request, with its own webhook_url.
    let refund = app
        .kasir
        .create_refund(&NewRefund {
            payin: paid.id.clone(),
            amount: Some(payin_amount),
            currency: Some("IDR".into()),
            reason: Some("Customer Return".into()),
            webhook_url: Some(refund_hooks.url.clone()),
            ..NewRefund::default()
        })
        .await
        .unwrap();
    assert!(crate::helpers::is_id(&json!(refund.id), "rfd_"));
    assert_eq!(
        (refund.payin.as_str(), refund.amount, refund.currency.as_str(), refund.reason.as_str(), refund.status.as_str()),
        (paid.id.as_str(), payin_amount, "IDR", "Customer Return", "pending")
    );
    assert_eq!(refund.status_description, "");
    for (k, v) in [
        ("object", json!("refund")),
        ("payment_attempt", json!(paid.latest_payment_attempt)),
        ("customer_receives", json!({"amount": payin_amount, "currency": "IDR"})),
        ("reference_id", json!("")),
        ("webhook_url", json!(refund_hooks.url)),
        ("metadata", Value::Null),
    ] {
        assert_eq!(refund.extra[k], v, "{k}");
    }
    assert!(crate::helpers::is_timestamp(&json!(refund.created_at)));
    let hits = refund_hooks.wait_for(5, |h| h.len() == 1).await;
    assert_eq!(hits[0].json()["type"], "refund.pending");

    app.advance(Duration::from_secs(70)).await;
    let hits = refund_hooks.wait_for(5, |h| h.len() == 2).await;
    assert_eq!(hits[1].json()["type"], "refund.succeeded");
    assert_eq!(hits[1].json()["data"]["status"], "succeeded");
    assert!(payin_hooks.of_type("refund.succeeded").is_empty(), "refund events go to the refund's URL");

    assert_eq!(app.kasir.refund(&refund.id).await.unwrap().status, "succeeded");
    assert_eq!(app.kasir.payment_attempt(&paid.latest_payment_attempt).await.unwrap().extra["refunded"], true);
    let mut of_payin = app.kasir.refunds(kasir_client::ListParams::default().filter("payin", &paid.id));
    assert_eq!(of_payin.next().await.unwrap().map(|r| r.id), Some(refund.id));
    assert_eq!(of_payin.next().await.unwrap(), None);
}
}

backend_tests! {
async fn without_amount_and_currency_the_refund_is_full_and_events_fall_back_to_the_payins_url() {
    let app = TestApp::spawn().await;
    let hooks = Receiver::start().await;
    let paid = app.paid_payin(5_000_000, "81234567890", Some(&hooks.url)).await;
    let r = app.kasir.create_refund(&whole(&paid.id)).await.unwrap();
    assert_eq!((r.amount, r.currency.as_str()), (5_000_000, "IDR"));
    hooks.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.pending")).await;
}
}

backend_tests! {
async fn every_refund_rule_answers_with_its_code_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let paid = app.paid_payin(5_000_000, "81234567890", None).await;
    let paid_id = paid.id.as_str();
    let unpaid = app.create_payin(5_000_000).await;
    let refunded = app.paid_payin(5_000_000, "81234567890", None).await.id;
    let first = app.kasir.create_refund(&whole(&refunded)).await.unwrap();
    app.kasir.sandbox_refund(&first.id, true, None).await.unwrap();

    let before = app.row_counts().await;
    let with = |amount: Option<i64>, currency: Option<&str>| NewRefund {
        payin: paid_id.into(),
        amount,
        currency: currency.map(str::to_string),
        ..NewRefund::default()
    };
    let cases: Vec<(&str, NewRefund, u16, u32, &str)> = vec![
        ("payin not succeeded", whole(&unpaid), 409, 30009, "payin"),
        ("partial refund of ovo_idr", with(Some(1_000_000), None), 400, 30021, "amount"),
        ("partial refund by currency and amount", with(Some(4_999_900), Some("IDR")), 400, 30021, "amount"),
        ("more than refundable", with(Some(6_000_000), None), 400, 30012, "amount"),
        ("second refund of a refunded payin", whole(&refunded), 409, 30010, "payin"),
        ("zero amount", with(Some(0), None), 400, 30002, "amount"),
        ("negative amount", with(Some(-5_000_000), None), 400, 30002, "amount"),
        ("other currency", with(None, Some("USD")), 400, 30004, "currency"),
        ("bad webhook url", NewRefund { webhook_url: Some("not a url".into()), ..whole(paid_id) }, 400, 30005, "webhook_url"),
        ("unknown payin", whole("pay_aaaaaaaaaaaaaaaaaaaa"), 404, 30000, "payin"),
        ("blank payin", whole(" "), 400, 30007, "payin"),
        ("reason too long", NewRefund { reason: Some("x".repeat(256)), ..whole(paid_id) }, 400, 30015, "reason"),
    ];
    for (name, refund, status, code, remarks) in cases {
        let a = app.kasir.create_refund(&refund).await;
        assert!(matches!(&a, Err(e) if e.code() == Some(code)), "{name}: {a:?}");
        assert_refused(a, status, code, remarks);
        assert_eq!(app.row_counts().await, before, "{name} wrote to the database");
    }
    // Bodies the SDK would not send: the envelope names the field all the same.
    let wire: Vec<(&str, Value, u16, u64, &str)> = vec![
        ("unknown attempt", json!({"payment_attempt": "pat_aaaaaaaaaaaaaaaaaaaa"}), 404, 30000, "payment_attempt"),
        ("no payin", json!({"amount": 5_000_000}), 400, 30007, "payin"),
        ("amount as string", json!({"payin": paid_id, "amount": "5000000"}), 400, 100, "amount"),
    ];
    for (name, body, status, code, remarks) in wire {
        let a = app.post("/v3/refund", &body).await;
        assert_eq!((a.status, a.body["errors"][0]["code"].as_u64()), (status, Some(code)), "{name}: {}", a.body);
        a.assert_error(status, code, remarks);
        assert_eq!(app.row_counts().await, before, "{name} wrote to the database");
    }
    // A live key cannot refund a test payin.
    assert_refused(app.live.create_refund(&whole(paid_id)).await, 404, 30000, "payin");
    // The attempt route works too.
    let by_attempt = app.post("/v3/refund", &json!({"payment_attempt": paid.latest_payment_attempt})).await;
    assert_eq!(by_attempt.status, 200, "{}", by_attempt.body);
    assert_eq!(by_attempt.data()["payin"], paid_id);
    assert_refused(app.kasir.refund("rfd_aaaaaaaaaaaaaaaaaaaa").await, 404, 105, "id");
}
}

backend_tests! {
async fn ten_parallel_full_refunds_make_exactly_one() {
    let app = TestApp::spawn().await;
    let paid = app.paid_payin(5_000_000, "81234567890", None).await;
    let refund = whole(&paid.id);
    let answers = join_all((0..10).map(|_| app.kasir.create_refund(&refund))).await;
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
    for a in answers.into_iter().filter(Result::is_err) {
        assert_refused(a, 409, 30010, "payin");
    }
    assert_eq!(app.count("refunds").await, 1);
}
}

backend_tests! {
async fn an_idempotency_key_replay_returns_the_same_refund() {
    // A wire test: the replay is byte for byte.
    let app = TestApp::spawn().await;
    let id = app.paid_payin(5_000_000, "81234567890", None).await.id;
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
    let paid = app.paid_payin(5_000_000, "81100000333", Some(&hooks.url)).await;
    let rid = app.kasir.create_refund(&whole(&paid.id)).await.unwrap().id;
    app.advance(Duration::from_secs(70)).await;
    let hits = hooks.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.failed")).await;
    let failed = hits.iter().find(|h| h.json()["type"] == "refund.failed").unwrap().json();
    assert_eq!(failed["data"]["id"], rid.as_str());
    assert!(failed["data"]["status_description"].as_str().unwrap().starts_with("wallet_closed"), "{failed}");
    let refund = app.kasir.refund(&rid).await.unwrap();
    assert_eq!(refund.status, "failed");
    assert!(refund.status_description.starts_with("wallet_closed"), "{}", refund.status_description);
    assert_eq!(app.kasir.payment_attempt(&paid.latest_payment_attempt).await.unwrap().extra["refunded"], false);
    // A failed refund leaves the payin refundable.
    let again = app.kasir.create_refund(&whole(&paid.id)).await.unwrap();
    assert_ne!(again.id, rid);
}
}

backend_tests! {
async fn the_sandbox_control_settles_refunds_for_test_keys_only() {
    let app = TestApp::spawn().await;
    let paid = app.paid_payin(5_000_000, "81234567890", None).await;
    let rid = app.kasir.create_refund(&whole(&paid.id)).await.unwrap().id;
    assert_refused(app.live.sandbox_refund(&rid, true, None).await, 404, 105, "path");
    assert_refused(app.kasir.sandbox_refund(&rid, false, Some("meh")).await, 400, 1002, "reason");
    let failed = app.kasir.sandbox_refund(&rid, false, Some("wallet_closed")).await.unwrap();
    assert_eq!(failed.status, "failed");
    assert_refused(app.kasir.sandbox_refund(&rid, true, None).await, 409, 19627, "status");
    let rid2 = app.kasir.create_refund(&whole(&paid.id)).await.unwrap().id;
    assert_eq!(app.kasir.sandbox_refund(&rid2, true, None).await.unwrap().status, "succeeded");
    assert_eq!(app.kasir.payment_attempt(&paid.latest_payment_attempt).await.unwrap().extra["refunded"], true);
    assert_refused(app.kasir.create_refund(&whole(&paid.id)).await, 409, 30010, "payin");
}
}
