//! What an operator relies on: metrics, readiness, request ids, rate limits, and log lines.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use kasir::LimitConfig;
use serde_json::{json, Value};

use crate::helpers::{basic, confirm_body, payin_body, Receiver, Settings, TestApp, SEED_AUTHORIZATION};

/// The value of the first sample of `metrics` whose line starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

backend_tests! {
async fn metrics_show_requests_transitions_jobs_and_deliveries() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let mut body = payin_body(5_000_000);
    body["webhook_url"] = json!(receiver.url);
    let id = app.post("/v3/payin", &body).await.id();
    let c = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
    let pat = c.data()["latest_payment_attempt"].as_str().unwrap().to_string();
    app.post(&format!("/v3/sandbox/payment_attempt/{pat}/succeed"), &json!({})).await;
    receiver.wait_for(10, |h| h.iter().any(|h| h.json()["type"] == "payin.succeeded")).await;
    app.idle().await;

    let m = app.send("GET", "/metrics", None, &[], None).await;
    assert_eq!(m.status, 200, "unauthenticated, like /healthz");
    let text = String::from_utf8(m.bytes).unwrap();
    let req = |route: &str, method: &str, status: u16| {
        let series = format!(r#"kasir_http_request_seconds_count{{route="{route}",method="{method}",status="{status}"}}"#);
        sample(&text, &series).unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(req("/v3/payin", "POST", 200), 1.0);
    assert_eq!(req("/v3/payin/{id}/confirm", "POST", 200), 1.0);
    for (kind, n) in [("payin.created", 1.0), ("payin.requires_action", 1.0), ("payin.succeeded", 1.0), ("payment_attempt.succeeded", 1.0)] {
        let series = format!(r#"kasir_events_total{{type="{kind}"}}"#);
        assert_eq!(sample(&text, &series), Some(n), "{series} in\n{text}");
    }
    let delivered = sample(&text, r#"kasir_webhook_delivery_seconds_count{outcome="delivered"}"#).unwrap_or(0.0);
    assert!(delivered >= 2.0, "requires_action and succeeded delivered:\n{text}");
    let store_series = if app.store.is_postgres() { "kasir_pg_pool_size" } else { "kasir_sqlite_commit_seconds_count" };
    assert!(sample(&text, store_series).is_some_and(|v| v > 0.0), "{store_series} in\n{text}");

    // A job that is due and waiting shows with its lag: one of a kind no worker takes, due at the epoch.
    app.sql("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ('probe', '{}', 0, 0)").await;
    let text = String::from_utf8(app.send("GET", "/metrics", None, &[], None).await.bytes).unwrap();
    assert_eq!(sample(&text, r#"kasir_jobs_due{kind="probe"}"#), Some(1.0), "{text}");
    let lag = sample(&text, r#"kasir_jobs_lag_seconds{kind="probe"}"#).unwrap();
    assert!(lag > 1.0e9, "waiting since 1970: {lag}");
}

async fn readyz_says_whether_the_database_and_its_schema_answer() {
    let app = TestApp::spawn().await;
    // Ready once the job runner has made its first pass, a moment after start.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut r = app.send("GET", "/readyz", None, &[], None).await;
    while r.status != 200 && std::time::Instant::now() < deadline {
        assert!(r.body["problems"][0].as_str().unwrap().contains("job runner"), "{}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = app.send("GET", "/readyz", None, &[], None).await;
    }
    assert_eq!((r.status, r.body["status"].clone()), (200, json!("ready")), "{}", r.body);
    // The version this build migrated to, put back after a newer one is pretended.
    let current = app.store.read(|tx| tx.schema_version()).await.unwrap();
    let (stale, fresh) = if app.store.is_postgres() {
        ("UPDATE kasir_schema SET version = 99".to_string(), format!("UPDATE kasir_schema SET version = {current}"))
    } else {
        ("PRAGMA user_version = 99".to_string(), format!("PRAGMA user_version = {current}"))
    };
    app.sql(&stale).await;
    let r = app.send("GET", "/readyz", None, &[], None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body["problems"][0].as_str().unwrap().contains("schema"), "{}", r.body);
    app.sql(&fresh).await;
    assert_eq!(app.send("GET", "/readyz", None, &[], None).await.status, 200);
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id_and_a_valid_one_is_echoed() {
    let app = TestApp::spawn().await;
    let id = |a: &crate::helpers::Answer| a.headers["x-request-id"].to_str().unwrap().to_string();
    let mine = app.send("GET", "/v3/payin", Some(&app.test_auth), &[("x-request-id", "order-42/retry-1")], None).await;
    assert_eq!(id(&mine), "order-42/retry-1");
    let long = "x".repeat(129);
    for bad in [long.as_str(), "has space"] {
        let a = app.send("GET", "/healthz", None, &[("x-request-id", bad)], None).await;
        assert!(id(&a).starts_with("req_") && id(&a) != bad, "{bad:?} replaced: {}", id(&a));
    }
    let error = app.send("GET", "/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa", Some(&app.test_auth), &[], None).await;
    assert!(id(&error).starts_with("req_"), "errors carry one too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_rate_limit_gets_429_with_retry_after() {
    let limits = LimitConfig { per_key: Some(5), ..LimitConfig::default() };
    let app = TestApp::spawn_with(Settings { limits, ..Settings::default() }).await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(app.get("/v3/payin?limit=1").await);
    }
    assert!(answers[..5].iter().all(|a| a.status == 200), "the burst is allowed");
    let limited = answers.iter().find(|a| a.status == 429).expect("past the burst, a 429");
    limited.assert_error(429, 110, "");
    assert!(limited.headers["retry-after"].to_str().unwrap().parse::<u32>().unwrap() >= 1);
    // Another key has its own allowance.
    assert_eq!(app.send("GET", "/v3/payin", Some(&app.live_auth), &[], None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failed_authentications_a_minute_are_all_an_address_gets() {
    let app = TestApp::spawn().await;
    // A good key used before keeps working: its header is known.
    assert_eq!(app.get("/v3/payin").await.status, 200);
    let wrong = basic("ak_test_YLSUAE0V4BHJH8X486OC", "sk_test_guess");
    for i in 0..20 {
        let a = app.send("GET", "/v3/payin", Some(&wrong), &[], None).await;
        assert_eq!(a.status, 401, "failure {i}");
    }
    let a = app.send("GET", "/v3/payin", Some(&wrong), &[], None).await;
    a.assert_error(429, 110, "");
    assert!(a.headers.contains_key("retry-after"));
    // Credentials not seen before are not even checked now, so guessing is no faster with good ones.
    app.send("GET", "/v3/payin", Some(&app.live_auth), &[], None).await.assert_error(429, 110, "");
    assert_eq!(app.send("GET", "/v3/payin", Some(SEED_AUTHORIZATION), &[], None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id() {
    let fresh = crate::helpers::fresh_database();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &fresh.url])
        .env("KASIR_LOG", "debug")
        .env("KASIR_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first: Value = loop {
        let line = lines.next().unwrap().unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v["message"].as_str().unwrap_or("").contains("listening on http://") {
            break v;
        }
    };
    let addr = first["message"]
        .as_str()
        .unwrap()
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa"))
        .header("x-request-id", "trace-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let found = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for line in lines.by_ref() {
            let line = line.unwrap();
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            if v["request_id"] == "trace-me-7" {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "no line with the request id");
        }
        panic!("the log ended before a line with the request id");
    })
    .await
    .unwrap();
    assert_eq!(found["level"], "DEBUG");
    assert_eq!(found["message"], "request");
    assert_eq!(found["status"], "401");
    let _ = child.kill();
    let _ = child.wait();
}
