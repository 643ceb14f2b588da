//! Many payments at once, on the real clock: every one settles and every webhook arrives.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::helpers::{confirm_body, payin_body, quick_rules, Receiver, TestApp};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

backend_tests! {
async fn a_thousand_payins_confirmed_at_once_all_settle_and_every_webhook_arrives() {
    const N: usize = 1000;
    let delay = Duration::from_secs(1);
    let app = TestApp::spawn_full(quick_rules(delay), true).await;
    let receiver = Receiver::start().await;
    let mut body = payin_body(5_000_000);
    body["webhook_url"] = json!(receiver.url);
    body["confirm"] = json!(true);
    body["customer_details"] = confirm_body("81234567890")["customer_details"].clone();
    body["payment_method_details"] = confirm_body("81234567890")["payment_method_details"].clone();

    let started = std::time::Instant::now();
    let answers: Vec<_> = stream::iter(0..N).map(|_| app.post("/v3/payin", &body)).buffer_unordered(64).collect().await;
    let confirm_secs = started.elapsed().as_secs_f64();
    assert!(answers.iter().all(|a| a.status == 200), "every confirm is accepted");
    let ids: HashSet<String> = answers.iter().map(|a| a.id()).collect();
    assert_eq!(ids.len(), N);

    // A receiver sent more than half the send slots' worth waits its turn, so the two events of a payin
    // may arrive a moment apart: wait for both kinds.
    let count = |h: &[crate::helpers::Hit], kind: &str| h.iter().filter(|h| h.json()["type"] == kind).count();
    let hits = receiver
        .wait_for(60, |h| count(h, "payin.succeeded") >= N && count(h, "payin.requires_action") >= N)
        .await;
    app.idle().await;
    let succeeded: Vec<_> = hits.iter().filter(|h| h.json()["type"] == "payin.succeeded").collect();
    let settled: HashSet<String> =
        succeeded.iter().map(|h| h.json()["data"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(settled, ids, "every payin settled and was reported");
    assert_eq!(succeeded.len(), N, "no success was reported twice");
    let requires_action = hits.iter().filter(|h| h.json()["type"] == "payin.requires_action").count();
    assert_eq!(requires_action, N);

    // Lag from the moment the outcome was due (attempt creation + delay) to receipt.
    let mut lags: Vec<f64> = succeeded
        .iter()
        .map(|h| {
            let created =
                kasir_domain::Timestamp::parse_rfc3339(h.json()["data"]["created_at"].as_str().unwrap()).unwrap();
            let due_ms = created.plus(delay).as_micros() as f64 / 1000.0;
            let got_ms = h.at.duration_since(UNIX_EPOCH).unwrap().as_micros() as f64 / 1000.0;
            got_ms - due_ms
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    println!(
        "{N} payins confirmed in {confirm_secs:.2} s; due-to-receipt lag of payin.succeeded: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[N - 1]
    );
    assert!(lags[0] >= -1.0, "no outcome before it was due ({:.0} ms)", lags[0]);
    let payins = app.get("/v3/payin?status=succeeded&limit=100").await;
    assert_eq!(payins.data()["data"].as_array().unwrap().len(), 100);
    assert_eq!(app.get("/v3/payin?status=requires_action").await.data()["data"], json!([]));
}
}
