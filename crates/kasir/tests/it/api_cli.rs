//! `kasir payin|refund|checkout|event …`: the API from the command line, a summary by default and the
//! API's own JSON with `--json`; an error prints Tazapay's code and message and exits non-zero.

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn kasir(base: &str, args: &[&str]) -> (bool, String, String) {
    let out = crate::serve::remote(base, args).output().expect("kasir");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_from_the_command_line_summaries_json_and_errors() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    let run = move |args: Vec<&'static str>| {
        let base = base.clone();
        async move { tokio::task::spawn_blocking(move || kasir(&base, &args)).await.unwrap() }
    };
    let (ok, out, err) = run(vec![
        "payin",
        "create",
        "--amount",
        "7700000",
        "--description",
        "2 x Kopi",
        "--reference-id",
        "ORD-9",
        "--phone",
        "0812-3456-7890",
        "--json",
    ])
    .await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "requires_action", "confirmed with the phone");
    assert_eq!(created["reference_id"], "ORD-9");
    let api = app.get(&format!("/v3/payin/{id}")).await;
    assert_eq!(api.data()["status"], created["status"]);

    let id2: &'static str = Box::leak(id.clone().into_boxed_str());
    let (ok, out, _) = run(vec!["payin", "get", id2]).await;
    assert!(ok);
    assert!(out.starts_with(id2) && out.contains("requires_action") && out.contains("Rp 77.000"), "{out}");
    let (_, list, _) = run(vec!["payin", "list", "--limit", "5"]).await;
    assert!(list.lines().next().unwrap().starts_with(id2), "{list}");

    // Paid through the sandbox, refunded from the command line.
    let pat = created["latest_payment_attempt"].as_str().unwrap();
    app.post(&format!("/v3/sandbox/payment_attempt/{pat}/succeed"), &json!({})).await;
    let (ok, out, err) = run(vec!["refund", "create", "--payin", id2, "--reason", "Customer request"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("rfd_") && out.contains("pending"), "{out}");
    let rfd: &'static str = Box::leak(out.split_whitespace().next().unwrap().to_string().into_boxed_str());
    let (ok, out, _) = run(vec!["refund", "get", rfd, "--json"]).await;
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["payin"], id2);

    let (ok, out, err) = run(vec![
        "checkout",
        "create",
        "--amount",
        "5000000",
        "--description",
        "Kopi",
        "--success-url",
        "https://shop.example/ok",
        "--cancel-url",
        "https://shop.example/cart",
        "--name",
        "Andrea",
        "--email",
        "andrea@example.com",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("chk_") && out.contains("/checkout/"), "{out}");
    let chk: &'static str = Box::leak(out.split_whitespace().next().unwrap().to_string().into_boxed_str());
    assert!(run(vec!["checkout", "get", chk]).await.0);

    let (ok, out, _) = run(vec!["event", "list", "--object", id2]).await;
    assert!(ok);
    let evt: &'static str =
        Box::leak(out.lines().next().unwrap().split_whitespace().next().unwrap().to_string().into_boxed_str());
    assert!(evt.starts_with("evt_"), "{out}");
    let (ok, out, _) = run(vec!["event", "get", evt, "--json"]).await;
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["id"], evt);
    // No webhook_url: a resend says why, as the API does.
    let (ok, _, err) = run(vec!["event", "resend", evt]).await;
    assert!(!ok);
    assert!(err.contains("1002"), "{err}");

    let (ok, _, err) = run(vec!["payin", "get", "pay_aaaaaaaaaaaaaaaaaaaa"]).await;
    assert!(!ok, "an error exits non-zero");
    assert!(err.contains("105"), "Tazapay's code: {err}");
    let (ok, _, err) = run(vec!["payin", "create", "--amount", "-5", "--description", "x"]).await;
    assert!(!ok);
    assert!(err.contains("amount"), "{err}");
}
