//! Account-level webhook endpoints: `/v3/webhook_endpoint`, and every event fanned out to the object's
//! `webhook_url` and to each enabled endpoint whose filter takes it.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{confirm_body, payin_body, Receiver, TestApp};

backend_tests! {
async fn an_event_goes_to_the_payins_url_and_to_each_endpoint_that_takes_it() {
    let app = TestApp::spawn().await;
    let (own, all, only_refunds) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let e1 = app.post("/v3/webhook_endpoint", &json!({"url": all.url, "enabled_events": ["*"]})).await;
    assert_eq!(e1.status, 200, "{}", e1.body);
    assert_eq!(e1.data()["object"], "webhook_endpoint");
    assert_eq!(e1.data()["status"], "enabled");
    assert!(e1.id().starts_with("whe_"));
    let e2 = app
        .post("/v3/webhook_endpoint", &json!({"url": only_refunds.url, "enabled_events": ["refund.succeeded"]}))
        .await;
    assert_eq!(e2.status, 200, "{}", e2.body);

    let mut body = payin_body(5_000_000);
    body["webhook_url"] = json!(own.url);
    let id = app.post("/v3/payin", &body).await.id();
    app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
    let a = own.wait_for(5, |h| !h.is_empty()).await;
    let b = all.wait_for(5, |h| !h.is_empty()).await;
    assert_eq!(a[0].json()["type"], "payin.requires_action");
    // The same event, signed alike: one event id, two deliveries.
    assert_eq!(a[0].header("webhook-id"), b[0].header("webhook-id"));
    assert_eq!(a[0].header("signature"), b[0].header("signature"));
    assert_eq!(a[0].body, b[0].body);
    let evt = a[0].header("webhook-id");
    // Each try is recorded once its answer is in.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut urls: Vec<String> = loop {
        let d = app.get(&format!("/v3/event/{evt}/deliveries")).await;
        let tries = d.data()["data"].as_array().unwrap().clone();
        if tries.len() >= 2 || std::time::Instant::now() > deadline {
            break tries.iter().map(|t| t["url"].as_str().unwrap().to_string()).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    urls.sort();
    let mut want = vec![own.url.clone(), all.url.clone()];
    want.sort();
    assert_eq!(urls, want);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(only_refunds.hits().is_empty(), "a filter that does not take the type gets nothing");

    // Disabled, it gets nothing more; listed, fetched, deleted.
    let off = app.put(&format!("/v3/webhook_endpoint/{}", e1.id()), &json!({"status": "disabled"})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.data()["status"], "disabled");
    assert_eq!(off.data()["url"], all.url.as_str(), "a PUT keeps what it does not give");
    let second = app.post("/v3/payin", &body).await.id();
    app.post(&format!("/v3/payin/{second}/confirm"), &confirm_body("81234567890")).await;
    own.wait_for(5, |h| h.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(all.hits().len(), 1);
    let list = app.get("/v3/webhook_endpoint").await;
    assert_eq!(list.data()["data"].as_array().unwrap().len(), 2);
    assert_eq!(list.data()["data"][0]["id"], e1.id().as_str(), "oldest first");
    let gone = app.send("DELETE", &format!("/v3/webhook_endpoint/{}", e2.id()), Some(&app.test_auth), &[], None).await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.data()["deleted"], true);
    app.get(&format!("/v3/webhook_endpoint/{}", e2.id())).await.assert_error(404, 105, "id");
    // The changes are in the account's audit log, by the key that made them.
    let account = app.account().await;
    let log = app.store.read(move |tx| tx.audit_of(&account, 10)).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|l| l.action.as_str()).collect();
    assert_eq!(
        actions,
        ["webhook_endpoint.deleted", "webhook_endpoint.updated", "webhook_endpoint.created", "webhook_endpoint.created"]
    );
}
}

backend_tests! {
async fn bad_endpoints_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    let cases = [
        (json!({"enabled_events": ["*"]}), 1001, "url"),
        (json!({"url": "https://shop.example/h"}), 1001, "enabled_events"),
        (json!({"url": "ftp://shop.example/h", "enabled_events": ["*"]}), 1002, "url"),
        (json!({"url": "https://shop.example/h", "enabled_events": []}), 1002, "enabled_events"),
        (json!({"url": "https://shop.example/h", "enabled_events": ["payin.paid"]}), 1002, "enabled_events"),
        (json!({"url": "https://shop.example/h", "enabled_events": ["*"], "status": "on"}), 1002, "status"),
    ];
    for (body, code, remarks) in cases {
        let a = app.post("/v3/webhook_endpoint", &body).await;
        a.assert_error(400, code, remarks);
    }
    let e = app.post("/v3/webhook_endpoint", &json!({"url": "https://shop.example/h", "enabled_events": ["*"]})).await;
    let bad = app.put(&format!("/v3/webhook_endpoint/{}", e.id()), &json!({"enabled_events": ["nope"]})).await;
    bad.assert_error(400, 1002, "enabled_events");
    assert_eq!(app.get(&format!("/v3/webhook_endpoint/{}", e.id())).await.data()["enabled_events"], json!(["*"]));
    app.put("/v3/webhook_endpoint/whe_aaaaaaaaaaaaaaaaaaaa", &json!({})).await.assert_error(404, 105, "id");
    let after = app.row_counts().await;
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.0).collect();
    assert_eq!(changed, ["audit_log", "webhook_endpoints"], "only the one good endpoint was written");
}
}

backend_tests! {
async fn a_live_endpoint_is_https_and_never_reaches_a_private_address() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let live = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let app = &app;
        async move { app.send(method, &path, Some(&app.live_auth), &[], body.map(|b| b.to_string()).as_deref()).await }
    };
    let http = live("POST", "/v3/webhook_endpoint".into(), Some(json!({"url": receiver.url, "enabled_events": ["*"]}))).await;
    http.assert_error(400, 1002, "url");
    assert!(http.body["message"].as_str().unwrap().contains("https"), "{}", http.body);
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    let url = format!("https://127.0.0.1:{port}/webhook");
    let made = live("POST", "/v3/webhook_endpoint".into(), Some(json!({"url": url, "enabled_events": ["*"]}))).await;
    assert_eq!(made.status, 200, "{}", made.body);
    // Test keys do not see live endpoints.
    assert_eq!(app.get("/v3/webhook_endpoint").await.data()["data"], json!([]));
    // A live payin's first event (payin.created, switched on; no live wallet is needed to create one).
    app.switch_event_type(kasir_domain::EventType::PayinCreated, true).await;
    let id = live("POST", "/v3/payin".into(), Some(payin_body(5_000_000))).await.id();
    let events = live("GET", format!("/v3/event?object_id={id}"), None).await;
    let evt = events.data()["data"][0]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let d = live("GET", format!("/v3/event/{evt}/deliveries"), None).await;
        if let Some(t) = d.data()["data"].as_array().unwrap().first() {
            assert_eq!(t["url"], url.as_str());
            assert!(t["error"].as_str().unwrap().starts_with("refused: "), "{t}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.hits().is_empty(), "nothing reached the private address");
}
}
