//! Lists by creation time (`created_from`, `created_to`) and `kasir export`: a time range's payins and
//! refunds as CSV (the dashboard's columns) or JSON lines, every page of them, row for row the API's.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{confirm_body, payin_body, TestApp, SEED_ACCESS_KEY, SEED_SECRET_KEY};

fn export(base: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kasir"))
        .arg("export")
        .args(args)
        .args(["--api-url", base])
        .env("KASIR_API_KEY", format!("{SEED_ACCESS_KEY}:{SEED_SECRET_KEY}"))
        .output()
        .expect("kasir export")
}

fn now(app: &TestApp) -> kasir_domain::Timestamp {
    kasir_domain::Clock::now(&app.clock)
}

backend_tests! {
async fn export_writes_a_time_ranges_payins_and_refunds_row_for_row_as_the_api_lists_them() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.post("/v3/payin", &payin_body(1_000_000)).await;
    }
    app.advance(Duration::from_secs(3600)).await;
    let from = now(&app);
    let mut paid = Vec::new();
    for i in 0..103 {
        let mut body = payin_body(1_000_000 + i * 100);
        body["reference_id"] = json!(if i == 7 { "=cmd|' /C calc'!A0".to_string() } else { format!("ORD-{i}") });
        let id = app.post("/v3/payin", &body).await.id();
        if i < 2 {
            let c = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
            let pat = c.data()["latest_payment_attempt"].as_str().unwrap().to_string();
            app.post(&format!("/v3/sandbox/payment_attempt/{pat}/succeed"), &json!({})).await;
            paid.push(id);
        }
    }
    for id in &paid {
        assert_eq!(app.post("/v3/refund", &json!({"payin": id})).await.status, 200);
    }
    app.advance(Duration::from_secs(3600)).await;
    let to = now(&app);
    app.post("/v3/payin", &payin_body(1_000_000)).await;
    let (from_s, to_s) = (from.to_rfc3339(), to.to_rfc3339());

    // The API: the range's payins, a page at a time.
    let q = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let page = app.get(&format!("/v3/payin?limit=100&created_from={}&created_to={}", q(&from_s), q(&to_s))).await;
    assert_eq!(page.data()["data"].as_array().unwrap().len(), 100);
    assert_eq!(page.data()["has_more"], true);
    let bad = app.get("/v3/payin?created_from=yesterday").await;
    bad.assert_error(400, 104, "created_from");
    let refunds = app.get(&format!("/v3/refund?created_from={}", q(&from_s))).await;
    assert_eq!(refunds.data()["data"].as_array().unwrap().len(), 2);

    let a = app.base.clone();
    let (f, t) = (from_s.clone(), to_s.clone());
    let csv = tokio::task::spawn_blocking(move || export(&a, &["payins", "--since", &f, "--until", &t])).await.unwrap();
    assert!(csv.status.success(), "{}", String::from_utf8_lossy(&csv.stderr));
    let text = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], kasir_app::reports::PAYIN_COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + 103, "every page");
    assert!(String::from_utf8_lossy(&csv.stderr).contains("exported 103 payins"));
    let first_ids: Vec<&str> = page.data()["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    for (line, id) in lines[1..].iter().zip(&first_ids) {
        assert!(line.starts_with(&format!("{id},")), "{line} is {id}");
    }
    assert!(text.contains(",'=cmd|' /C calc'!A0,"), "a formula is text");

    let a = app.base.clone();
    let f = from_s.clone();
    let jsonl = tokio::task::spawn_blocking(move || export(&a, &["refunds", "--since", &f, "--format", "jsonl"])).await.unwrap();
    let rows: Vec<serde_json::Value> =
        String::from_utf8(jsonl.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["object"] == "refund"));

    let a = app.base.clone();
    let wrong = tokio::task::spawn_blocking(move || export(&a, &["payins", "--since", "last week"])).await.unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("RFC 3339"));
}
}
