//! Account-level webhook endpoints: `/v3/webhook_endpoint`, and every event fanned out to the object's
//! `webhook_url` and to each enabled endpoint whose filter takes it.

use std::time::Duration;

use kasir_client::{EndpointSettings, ListParams};

use crate::helpers::{assert_refused, confirm, deliveries, new_payin, Receiver, TestApp};

fn endpoint(url: &str, events: &[&str]) -> EndpointSettings {
    EndpointSettings {
        url: Some(url.into()),
        enabled_events: Some(events.iter().map(|e| e.to_string()).collect()),
        status: None,
    }
}

backend_tests! {
async fn an_event_goes_to_the_payins_url_and_to_each_endpoint_that_takes_it() {
    let app = TestApp::spawn().await;
    let (own, all, only_refunds) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let e1 = app.kasir.create_webhook_endpoint(&endpoint(&all.url, &["*"])).await.unwrap();
    assert_eq!(e1.extra["object"], "webhook_endpoint");
    assert_eq!(e1.status, "enabled");
    assert!(e1.id.starts_with("whe_"));
    let e2 = app.kasir.create_webhook_endpoint(&endpoint(&only_refunds.url, &["refund.succeeded"])).await.unwrap();

    let with_url = new_payin(5_000_000).webhook_url(&own.url);
    let id = app.kasir.create_payin(&with_url).await.unwrap().id;
    app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap();
    let a = own.wait_for(5, |h| !h.is_empty()).await;
    let b = all.wait_for(5, |h| !h.is_empty()).await;
    assert_eq!(a[0].json()["type"], "payin.requires_action");
    // The same event, signed alike: one event id, two deliveries.
    assert_eq!(a[0].header("webhook-id"), b[0].header("webhook-id"));
    assert_eq!(a[0].header("signature"), b[0].header("signature"));
    assert_eq!(a[0].body, b[0].body);
    let evt = a[0].header("webhook-id");
    // Each try is recorded once its answer is in.
    let mut urls: Vec<String> = deliveries(&app.kasir, &evt, 2).await.into_iter().map(|t| t.url).collect();
    urls.sort();
    let mut want = vec![own.url.clone(), all.url.clone()];
    want.sort();
    assert_eq!(urls, want);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(only_refunds.hits().is_empty(), "a filter that does not take the type gets nothing");

    // Disabled, it gets nothing more; listed, fetched, deleted.
    let disable = EndpointSettings { status: Some("disabled".into()), ..EndpointSettings::default() };
    let off = app.kasir.update_webhook_endpoint(&e1.id, &disable).await.unwrap();
    assert_eq!(off.status, "disabled");
    assert_eq!(off.url, all.url, "a PUT keeps what it does not give");
    let second = app.kasir.create_payin(&with_url).await.unwrap().id;
    app.kasir.confirm_payin_with(&second, &confirm("81234567890")).await.unwrap();
    own.wait_for(5, |h| h.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(all.hits().len(), 1);
    let list = app.kasir.webhook_endpoints().await.unwrap().data;
    assert_eq!(list.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [e1.id.as_str(), e2.id.as_str()], "oldest first");
    assert_eq!(app.kasir.webhook_endpoint(&e1.id).await.unwrap(), off);
    let gone = app.kasir.delete_webhook_endpoint(&e2.id).await.unwrap();
    assert_eq!((gone.id.as_str(), gone.deleted), (e2.id.as_str(), true));
    assert_refused(app.kasir.webhook_endpoint(&e2.id).await, 404, 105, "id");
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
    let good = "https://shop.example/h";
    let cases = [
        (EndpointSettings { url: None, ..endpoint(good, &["*"]) }, 1001, "url"),
        (EndpointSettings { enabled_events: None, ..endpoint(good, &[]) }, 1001, "enabled_events"),
        (endpoint("ftp://shop.example/h", &["*"]), 1002, "url"),
        (endpoint(good, &[]), 1002, "enabled_events"),
        (endpoint(good, &["payin.paid"]), 1002, "enabled_events"),
        (EndpointSettings { status: Some("on".into()), ..endpoint(good, &["*"]) }, 1002, "status"),
    ];
    for (settings, code, remarks) in cases {
        assert_refused(app.kasir.create_webhook_endpoint(&settings).await, 400, code, remarks);
    }
    let e = app.kasir.create_webhook_endpoint(&endpoint(good, &["*"])).await.unwrap();
    let bad = EndpointSettings { enabled_events: Some(vec!["nope".into()]), ..EndpointSettings::default() };
    assert_refused(app.kasir.update_webhook_endpoint(&e.id, &bad).await, 400, 1002, "enabled_events");
    assert_eq!(app.kasir.webhook_endpoint(&e.id).await.unwrap().enabled_events, ["*"]);
    let unknown = app.kasir.update_webhook_endpoint("whe_aaaaaaaaaaaaaaaaaaaa", &EndpointSettings::default()).await;
    assert_refused(unknown, 404, 105, "id");
    let after = app.row_counts().await;
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.0).collect();
    // Every SDK POST carries an Idempotency-Key: the refused ones' were not kept either.
    assert_eq!(changed, ["idempotency_keys", "audit_log", "webhook_endpoints"], "only the one good endpoint was written");
    assert_eq!(app.count("idempotency_keys").await, 1);
}
}

backend_tests! {
async fn a_live_endpoint_is_https_and_never_reaches_a_private_address() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let http = app.live.create_webhook_endpoint(&endpoint(&receiver.url, &["*"])).await;
    assert!(http.as_ref().is_err_and(|e| e.to_string().contains("https")), "{http:?}");
    assert_refused(http, 400, 1002, "url");
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    let url = format!("https://127.0.0.1:{port}/webhook");
    app.live.create_webhook_endpoint(&endpoint(&url, &["*"])).await.unwrap();
    // Test keys do not see live endpoints.
    assert!(app.kasir.webhook_endpoints().await.unwrap().data.is_empty());
    // A live payin's first event (payin.created, switched on; no live wallet is needed to create one).
    app.switch_event_type(kasir_domain::EventType::PayinCreated, true).await;
    let id = app.live.create_payin(&new_payin(5_000_000)).await.unwrap().id;
    let evt = app.live.events(ListParams::default().filter("object_id", &id)).next().await.unwrap().unwrap().id;
    let first = deliveries(&app.live, &evt, 1).await;
    let t = first.first().expect("a delivery recorded");
    assert_eq!(t.url, url);
    assert!(t.error.starts_with("refused: "), "{t:?}");
    assert!(receiver.hits().is_empty(), "nothing reached the private address");
}
}
