//! The wallet seam: a wallet that must be asked over the network is asked by jobs, outside any
//! transaction, and its answers come back as the payin's state changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kasir_app::wallet::{Answer, Call, CallOp, Plan, RefundOutcome, Wallet};
use kasir_domain::{Clock as _, Outcome, PaymentAttempt, Refund};
use serde_json::json;

use crate::helpers::{confirm_body, payin_body, TestApp};

/// A wallet that answers a push "pending", and a status check "approved"; refunds succeed when asked.
#[derive(Default)]
struct Scripted {
    calls: Mutex<Vec<(CallOp, String, u32)>>,
}

impl Wallet for Scripted {
    fn plan_push(&self, _attempt: &PaymentAttempt) -> Plan<Outcome> {
        Plan::Call
    }

    fn plan_refund(&self, _refund: &Refund, _attempt: &PaymentAttempt) -> Plan<RefundOutcome> {
        Plan::Call
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((call.op, call.attempt.id.clone(), call.tries));
            // A real wallet waits on the network here; nothing else waits for it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            match call.op {
                CallOp::Push => Answer::Again { op: CallOp::Status, at: call.now },
                CallOp::Status => Answer::Settled(Outcome::Succeeded, None),
                CallOp::Refund | CallOp::RefundStatus => Answer::Refunded(Ok(())),
                CallOp::Reverse => Answer::Done,
            }
        })
    }
}

backend_tests! {
async fn a_live_wallet_is_asked_by_jobs_and_its_answers_settle_the_payin_and_its_refund() {
    let wallet = Arc::new(Scripted::default());
    let app = TestApp::spawn_with_live_wallet(wallet.clone()).await;
    let live = |method: &'static str, path: String, body: Option<String>| {
        let app = &app;
        async move {
            let headers = [("content-type", "application/json")];
            app.send(method, &path, Some(&app.live_auth), &headers, body.as_deref()).await
        }
    };
    let created = live("POST", "/v3/payin".into(), Some(payin_body(5_000_000).to_string())).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.id();
    let confirmed = live("POST", format!("/v3/payin/{id}/confirm"), Some(confirm_body("81234567890").to_string())).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.data()["status"], "requires_action", "the confirm answers at once");
    let pat = confirmed.data()["latest_payment_attempt"].as_str().unwrap().to_string();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let paid = loop {
        let p = live("GET", format!("/v3/payin/{id}"), None).await;
        if p.data()["status"] == "succeeded" {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the wallet's answer never settled the payin: {}", p.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(paid.data()["amount_paid"], 5_000_000);
    let events = live("GET", format!("/v3/event?object_id={id}"), None).await;
    let kinds: Vec<_> = events.data()["data"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, [json!("payin.succeeded"), json!("payin.requires_action"), json!("payin.created")]);
    let asked: Vec<_> = wallet.calls.lock().unwrap().clone();
    assert_eq!(asked, [(CallOp::Push, pat.clone(), 1), (CallOp::Status, pat.clone(), 1)], "each asked once");

    let refund = live("POST", "/v3/refund".into(), Some(json!({"payin": id}).to_string())).await;
    assert_eq!(refund.status, 200, "{}", refund.body);
    assert_eq!(refund.data()["status"], "pending");
    let rfd = refund.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = live("GET", format!("/v3/refund/{rfd}"), None).await;
        if r.data()["status"] == "succeeded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the refund never settled: {}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wallet.calls.lock().unwrap().last().unwrap().0, CallOp::Refund);
    // Nothing is left to do: no call is waiting, and the attempt's expiry finds it settled.
    let now = app.clock.now();
    let (due, leased, _) = app.store.read(move |tx| tx.job_counts(now)).await.unwrap();
    assert_eq!((due, leased), (0, 0));
}
}

backend_tests! {
async fn ovo_reference_numbers_are_handed_out_once_each_under_concurrency() {
    use kasir_app::wallet::ovo::{reserve, Reference};
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let store = app.store.clone();
        tasks.push(tokio::spawn(async move { store.write(|tx| reserve(tx)).await.expect("a reference") }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    let want: Vec<Reference> = (1..=200).map(Reference::nth).collect();
    assert_eq!(got, want, "every number once, none skipped");
    // A transaction that takes one and then fails gives it back; the next is the same number.
    let failed: Result<Reference, kasir_store::StoreError> = app
        .store
        .write(|tx| {
            reserve(tx)?;
            Err(kasir_store::StoreError::Corrupt("the push could not be recorded".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(app.store.write(|tx| reserve(tx)).await.unwrap(), Reference::nth(201));
}
}
