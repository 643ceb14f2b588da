//! Lists by creation time (`created_from`, `created_to`) and `kasir export`: a time range's payins and
//! refunds as CSV (the dashboard's columns) or JSON lines, every page of them, row for row the API's.

use std::time::Duration;

use kasir_client::{ListParams, NewRefund};

use crate::helpers::{assert_refused, confirm, new_payin, TestApp};

fn export(base: &str, args: &[&str]) -> std::process::Output {
    crate::serve::remote(base, &[&["export"], args].concat()).output().expect("kasir export")
}

fn now(app: &TestApp) -> kasir_domain::Timestamp {
    kasir_domain::Clock::now(&app.clock)
}

backend_tests! {
async fn export_writes_a_time_ranges_payins_and_refunds_row_for_row_as_the_api_lists_them() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.create_payin(1_000_000).await;
    }
    app.advance(Duration::from_secs(3600)).await;
    let from = now(&app);
    let mut paid = Vec::new();
    for i in 0..103 {
        let reference = if i == 7 { "=cmd|' /C calc'!A0".to_string() } else { format!("ORD-{i}") };
        let id = app.kasir.create_payin(&new_payin(1_000_000 + i * 100).reference_id(&reference)).await.unwrap().id;
        if i < 2 {
            let pat = app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap().latest_payment_attempt;
            app.kasir.sandbox_attempt(&pat, true, None).await.unwrap();
            paid.push(id);
        }
    }
    for id in &paid {
        app.kasir.create_refund(&NewRefund { payin: id.clone(), ..NewRefund::default() }).await.unwrap();
    }
    app.advance(Duration::from_secs(3600)).await;
    let to = now(&app);
    app.create_payin(1_000_000).await;
    let (from_s, to_s) = (from.to_rfc3339(), to.to_rfc3339());

    // The API: the range's payins, a page at a time.
    let range = ListParams { limit: Some(100), ..ListParams::default() }.filter("created_from", &from_s).filter("created_to", &to_s);
    let page = app.kasir.list_payins(&range).await.unwrap();
    assert_eq!(page.data.len(), 100);
    assert!(page.has_more);
    let bad = app.kasir.list_payins(&ListParams::default().filter("created_from", "yesterday")).await;
    assert_refused(bad, 400, 104, "created_from");
    let refunds = app.kasir.refunds(ListParams::default().filter("created_from", &from_s)).all().await.unwrap();
    let mut refunded: Vec<String> = refunds.into_iter().map(|r| r.payin).collect();
    refunded.sort();
    paid.sort();
    assert_eq!(refunded, paid);

    let a = app.base.clone();
    let (f, t) = (from_s.clone(), to_s.clone());
    let csv = tokio::task::spawn_blocking(move || export(&a, &["payins", "--since", &f, "--until", &t])).await.unwrap();
    assert!(csv.status.success(), "{}", String::from_utf8_lossy(&csv.stderr));
    let text = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], kasir_app::reports::PAYIN_COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + 103, "every page");
    assert_eq!(String::from_utf8_lossy(&csv.stderr), "exported 103 payins\n", "the total, not a terminal's redraws");
    let first_ids: Vec<&str> = page.data.iter().map(|p| p.id.as_str()).collect();
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
