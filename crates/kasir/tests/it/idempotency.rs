//! `Idempotency-Key`: replays, mismatches, expiry, scoping, and races.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{confirm_body, payin_body, TestApp};

backend_tests! {
async fn a_repeat_with_the_same_body_replays_the_first_answer_byte_for_byte() {
    let app = TestApp::spawn().await;
    let first = app.post_with_key("/v3/payin", &payin_body(10_000_000), "order-1").await;
    assert_eq!(first.status, 200);
    let again = app.post_with_key("/v3/payin", &payin_body(10_000_000), "order-1").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.count("payins").await, 1);
}
}

backend_tests! {
async fn the_same_key_with_a_different_body_is_a_422() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_with_key("/v3/payin", &payin_body(10_000_000), "k").await.status, 200);
    let other = app.post_with_key("/v3/payin", &payin_body(20_000_000), "k").await;
    other.assert_error(422, 1103, "Idempotency-Key");
    // The same key on another endpoint is another request too.
    let id = app.create_payin(10_000_000).await;
    let cross = app.post_with_key(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890"), "k").await;
    cross.assert_error(422, 1103, "Idempotency-Key");
    assert_eq!(app.count("payins").await, 2);
}
}

backend_tests! {
async fn error_answers_are_not_stored_so_a_corrected_request_runs() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let path = format!("/v3/payin/{id}/confirm");
    let bad = app.post_with_key(&path, &confirm_body("123"), "c1").await;
    assert_eq!(bad.status, 400);
    // The same request again runs again (and fails again), rather than replaying.
    let bad_again = app.post_with_key(&path, &confirm_body("123"), "c1").await;
    assert_eq!(bad_again.status, 400);
    assert!(bad_again.headers.get("idempotent-replayed").is_none());
    // The key is free: a corrected body with the same key succeeds.
    let good = app.post_with_key(&path, &confirm_body("81234567890"), "c1").await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(app.count("payment_attempts").await, 1);
}
}

backend_tests! {
async fn records_expire_after_24_hours() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_with_key("/v3/payin", &payin_body(10_000_000), "daily").await.status, 200);
    app.clock.advance(Duration::from_secs(23 * 3600));
    let within = app.post_with_key("/v3/payin", &payin_body(20_000_000), "daily").await;
    assert_eq!(within.status, 422);
    app.clock.advance(Duration::from_secs(3600));
    let after = app.post_with_key("/v3/payin", &payin_body(20_000_000), "daily").await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.data()["amount"], 20_000_000);
    assert_eq!(app.count("payins").await, 2);

    // Past its 24 hours a record is swept away by the worker, and /metrics counts it; a younger one
    // stays, and still replays.
    assert_eq!(app.count("idempotency_keys").await, 1);
    app.advance(Duration::from_secs(12 * 3600)).await;
    let young = app.post_with_key("/v3/payin", &payin_body(30_000_000), "young").await;
    assert_eq!(young.status, 200, "{}", young.body);
    app.advance(Duration::from_secs(12 * 3600 + 1)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.count("idempotency_keys").await > 1 {
        assert!(std::time::Instant::now() < deadline, "the expired record was never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "kasir_idempotency_keys_swept_total 1"), "{metrics}");
    let again = app.post_with_key("/v3/payin", &payin_body(30_000_000), "young").await;
    assert_eq!(again.bytes, young.bytes, "the record within its 24 hours was kept");
    // The payins they made stay; only the expired stored answer went.
    assert_eq!(app.count("payins").await, 3);
}
}

backend_tests! {
async fn keys_are_scoped_to_the_api_key() {
    let app = TestApp::spawn().await;
    let mut body = payin_body(10_000_000);
    body["webhook_url"] = json!("https://merchant.example/webhook");
    let test = app.post_with_key("/v3/payin", &body, "shared").await;
    let live = app
        .send("POST", "/v3/payin", Some(&app.live_auth), &[("idempotency-key", "shared")], Some(&body.to_string()))
        .await;
    assert_eq!((test.status, live.status), (200, 200));
    assert_ne!(test.id(), live.id());
    assert_eq!(app.count("payins").await, 2);
}
}

backend_tests! {
async fn cancel_without_a_body_honours_the_key() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let path = format!("/v3/payin/{id}/cancel");
    let first = app.send("POST", &path, Some(&app.test_auth), &[("idempotency-key", "x")], None).await;
    assert_eq!(first.status, 200);
    let again = app.send("POST", &path, Some(&app.test_auth), &[("idempotency-key", "x")], None).await;
    assert_eq!(again.bytes, first.bytes, "a replay, not a 409 for an already cancelled payin");
}
}

backend_tests! {
async fn parallel_confirms_with_one_key_create_exactly_one_attempt() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let path = format!("/v3/payin/{id}/confirm");
    let body = confirm_body("81234567890");
    let answers = join_all((0..20).map(|_| app.post_with_key(&path, &body, "same-key"))).await;
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!ok.is_empty());
    for a in &answers {
        match a.status {
            200 => assert_eq!(a.bytes, ok[0].bytes, "every success is the same answer"),
            409 => a.assert_error(409, 1102, "Idempotency-Key"),
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!(app.count("payment_attempts").await, 1);
    assert_eq!(app.count("customers").await, 1);
}
}

backend_tests! {
async fn parallel_confirms_with_different_keys_create_one_attempt_and_409_the_rest() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let path = format!("/v3/payin/{id}/confirm");
    let body = confirm_body("81234567890");
    let keys: Vec<String> = (0..20).map(|i| format!("key-{i}")).collect();
    let stored = app.count("idempotency_keys").await;
    let answers = join_all(keys.iter().map(|k| app.post_with_key(&path, &body, k))).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 1, "exactly one confirm wins");
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(409, 19627, "status");
    }
    assert_eq!(app.count("payment_attempts").await, 1);
    // The losers' keys were released: no stored answers but the winner's.
    assert_eq!(app.count("idempotency_keys").await, stored + 1);
}
}

backend_tests! {
async fn releasing_a_claim_keeps_a_stored_answer_and_a_later_claim() {
    // A write whose caller heard an error may still have committed (a connection lost after the
    // commit): its release must leave the answer it stored, so a retry replays it instead of running
    // the payment again; and it must leave a later request's claim of the same key alone.
    use kasir_domain::Clock;
    use kasir_store::{IdemRecord, IdemState, StoreError};
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let lease = now.plus(Duration::from_secs(60));
    let rec = move |state: IdemState, locked_until| IdemRecord {
        request_hash: "h".into(),
        state,
        response_status: 200,
        response_body: b"{}".to_vec(),
        created_at: now,
        locked_until,
    };
    app.store
        .write(move |tx| {
            tx.idem_put("ak", "committed", &rec(IdemState::Done, lease))?;
            tx.idem_put("ak", "taken-over", &rec(IdemState::Running, lease.plus(Duration::from_secs(90))))?;
            tx.idem_put("ak", "failed", &rec(IdemState::Running, lease))?;
            for key in ["committed", "taken-over", "failed"] {
                tx.idem_release("ak", key, lease)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let left = app
        .store
        .write(|tx| {
            let mut left = Vec::new();
            for key in ["committed", "taken-over", "failed"] {
                left.push(tx.idem_get("ak", key)?.map(|r| r.state));
            }
            Ok::<_, StoreError>(left)
        })
        .await
        .unwrap();
    assert_eq!(left, vec![Some(IdemState::Done), Some(IdemState::Running), None]);
}
}

backend_tests! {
async fn a_sandbox_control_repeated_with_its_key_replays_its_first_answer() {
    // A control whose answer was lost is sent again with the same key (as the SDK does): it gets the
    // first answer, not "already has its outcome", and nothing happens twice.
    let app = TestApp::spawn().await;
    let pat = app.confirmed_payin(5_000_000).await.latest_payment_attempt;
    let path = format!("/v3/sandbox/payment_attempt/{pat}/fail");
    let body = json!({"reason": "insufficient_balance"});
    let first = app.post_with_key(&path, &body, "fail-1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = app.post_with_key(&path, &body, "fail-1").await;
    assert_eq!((again.status, &again.bytes), (200, &first.bytes));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    app.post_with_key(&path, &json!({"reason": "declined"}), "fail-1").await.assert_error(422, 1103, "Idempotency-Key");
    // Without the key, a repeat is a new request, and the attempt already has its outcome.
    app.post(&path, &body).await.assert_error(409, 19627, "status");
    let mut events = app.kasir.events(kasir_client::ListParams::default().filter("object_id", &pat).filter("type", "payment_attempt.failed"));
    assert!(events.next().await.unwrap().is_some());
    assert!(events.next().await.unwrap().is_none(), "failed once");

    // A refund's control too, with no body at all.
    let paid = app.paid_payin(5_000_000, "81234567890", None).await;
    let rfd = app.kasir.create_refund(&kasir_client::NewRefund { payin: paid.id, ..Default::default() }).await.unwrap().id;
    let path = format!("/v3/sandbox/refund/{rfd}/succeed");
    let key = [("idempotency-key", "settle-1")];
    let first = app.send("POST", &path, Some(&app.test_auth), &key, None).await;
    let again = app.send("POST", &path, Some(&app.test_auth), &key, None).await;
    assert_eq!((first.status, again.status), (200, 200), "{}", again.body);
    assert_eq!(again.bytes, first.bytes);
}
}
