//! `kasir-client` against a running Kasir: typed calls, errors with Tazapay's codes, idempotent
//! creation, lists read page by page, webhook endpoints, and a real delivery verified in one call.

use kasir_client::{Client, CustomerDetails, EndpointSettings, ListParams, NewCheckout, NewPayin, NewRefund, Phone};

use crate::helpers::{Receiver, TestApp, SEED_ACCESS_KEY, SEED_SECRET_KEY};

fn sdk(app: &TestApp) -> Client {
    Client::new(&app.base, SEED_ACCESS_KEY, SEED_SECRET_KEY)
}

backend_tests! {
async fn the_sdk_pays_refunds_lists_and_reports_errors_with_tazapays_codes() {
    let app = TestApp::spawn().await;
    let kasir = sdk(&app);
    let payin = kasir
        .create_payin(&NewPayin::new("IDR", 7_700_000, "2 x Kopi").reference_id("ORD-1").confirm_with(Phone::indonesian("0812-3456-7890")))
        .await
        .unwrap();
    assert_eq!(payin.status, "requires_action");
    assert_eq!(payin.reference_id, "ORD-1");
    let attempt = kasir.payment_attempt(&payin.latest_payment_attempt).await.unwrap();
    assert_eq!(attempt.payin, payin.id);
    let tagged = kasir.update_payment_attempt(&attempt.id, &serde_json::json!({"order": "42"})).await.unwrap();
    assert_eq!(tagged.extra["metadata"]["order"], "42");
    assert_eq!(kasir.sandbox_attempt(&attempt.id, true, None).await.unwrap().status, "succeeded");
    assert_eq!(kasir.payin(&payin.id).await.unwrap().status, "succeeded");
    let renamed = kasir.update_payin(&payin.id, &serde_json::json!({"reference_id": "ORD-1b"})).await.unwrap();
    assert_eq!(renamed.reference_id, "ORD-1b");
    let refund = kasir.create_refund(&NewRefund { payin: payin.id.clone(), reason: Some("Customer request".into()), ..Default::default() }).await.unwrap();
    assert_eq!((refund.status.as_str(), refund.amount), ("pending", 7_700_000));
    assert_eq!(kasir.refund(&refund.id).await.unwrap().payin, payin.id);

    // A repeat with the same Idempotency-Key answers the first payin.
    let new = NewPayin::new("IDR", 5_000_000, "once");
    let a = kasir.create_payin_once(&new, "order-42").await.unwrap();
    let b = kasir.create_payin_once(&new, "order-42").await.unwrap();
    assert_eq!(a.id, b.id);

    // Errors carry Tazapay's code.
    let missing = kasir.payin("pay_aaaaaaaaaaaaaaaaaaaa").await.unwrap_err();
    assert_eq!(missing.code(), Some(105));
    // An id is one path segment, whatever it holds: not a way to another route.
    let climbing = kasir.payin("../refund").await.unwrap_err();
    assert_eq!(climbing.code(), Some(105), "{climbing}");
    let small = kasir.create_payin(&NewPayin::new("IDR", 5, "too small")).await.unwrap_err();
    assert!(matches!(small, kasir_client::Error::Api { status: 400, .. }), "{small}");
    let twice = kasir.create_refund(&NewRefund { payin: payin.id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(twice.code(), Some(30010));

    // A list read a page at a time: 102 payins (the paid one, the idempotent one, 100 more) over two pages.
    for i in 0..100 {
        kasir.create_payin(&NewPayin::new("IDR", 1_000_000 + i * 100, "bulk")).await.unwrap();
    }
    let mut pager = kasir.payins(ListParams::default());
    let mut seen = Vec::new();
    while let Some(p) = pager.next().await.unwrap() {
        seen.push(p.id);
    }
    assert_eq!(seen.len(), 102);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 102, "none twice");
    let mut succeeded = kasir.payins(ListParams::default().filter("status", "succeeded"));
    assert_eq!(succeeded.next().await.unwrap().unwrap().id, payin.id);
    assert!(succeeded.next().await.unwrap().is_none());

    let checkout = kasir
        .create_checkout(&NewCheckout::new(
            "IDR",
            5_000_000,
            "Kopi",
            CustomerDetails::new("Andrea", "andrea@example.com", "ID"),
            "https://shop.example/thanks",
            "https://shop.example/cart",
        ))
        .await
        .unwrap();
    assert!(checkout.url.ends_with(&checkout.token));
    assert_eq!(kasir.checkouts(ListParams::default()).next().await.unwrap().unwrap().id, checkout.id);
    let methods = kasir.collect_metadata("IDR", 5_000_000).await.unwrap();
    assert!(methods.to_string().contains("ovo_idr"), "{methods}");
    assert_eq!(kasir.expire_checkout(&checkout.id).await.unwrap().status, "expired");
    let mut events = kasir.events(ListParams::default().filter("object_id", &payin.id));
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.payin().unwrap().id, payin.id);
}
}

backend_tests! {
async fn a_delivery_to_an_sdk_endpoint_verifies_in_one_call_and_a_forgery_does_not() {
    let app = TestApp::spawn().await;
    let kasir = sdk(&app);
    let receiver = Receiver::start().await;
    let endpoint = kasir
        .create_webhook_endpoint(&EndpointSettings {
            url: Some(receiver.url.clone()),
            enabled_events: Some(vec!["payin.requires_action".into()]),
            status: None,
        })
        .await
        .unwrap();
    assert_eq!(kasir.webhook_endpoints().await.unwrap().data.len(), 1);
    let payin = kasir
        .create_payin(&NewPayin::new("IDR", 5_000_000, "Kopi").confirm_with(Phone::indonesian("081234567890")))
        .await
        .unwrap();
    let hit = receiver.wait_for(5, |h| !h.is_empty()).await.remove(0);
    let secret = app.store.read(|tx| tx.accounts()).await.unwrap()[0].webhook_secret.clone().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &hit.headers {
        headers.insert(k.clone(), v.to_str().unwrap().parse().unwrap());
    }
    let event = kasir_client::webhook::verify(&secret, &headers, &hit.body).unwrap();
    assert_eq!(event.kind, "payin.requires_action");
    assert_eq!(event.payin().unwrap().id, payin.id);
    let mut forged = hit.body.clone();
    let at = forged.len() - 2;
    forged[at] = b' ';
    assert!(kasir_client::webhook::verify(&secret, &headers, &forged).is_err());
    assert!(kasir_client::webhook::verify("whsec_c29tZW9uZSBlbHNl", &headers, &hit.body).is_err());

    let off = kasir
        .update_webhook_endpoint(&endpoint.id, &EndpointSettings { status: Some("disabled".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(off.status, "disabled");
    kasir.delete_webhook_endpoint(&endpoint.id).await.unwrap();
    assert_eq!(kasir.webhook_endpoint(&endpoint.id).await.unwrap_err().code(), Some(105));
}
}

backend_tests! {
async fn the_sdks_event_stream_gives_typed_events_and_resumes_after_the_last_one() {
    use kasir_client::stream::StreamItem;
    let app = TestApp::spawn().await;
    let kasir = sdk(&app);
    /// The next event, skipping nothing else the stream says.
    async fn event(s: &mut kasir_client::stream::EventStream) -> (kasir_client::Event, String) {
        loop {
            let item = tokio::time::timeout(std::time::Duration::from_secs(10), s.next()).await.expect("an event").unwrap();
            if let StreamItem::Event { event, raw } = item {
                return (event, raw);
            }
        }
    }
    let mut stream = kasir.event_stream(None);
    assert_eq!(stream.next().await.unwrap(), StreamItem::Connected { resumed_after: None });
    let a = kasir.create_payin(&NewPayin::new("IDR", 5_000_000, "Kopi")).await.unwrap();
    let (created, raw) = event(&mut stream).await;
    assert_eq!((created.kind.as_str(), created.payin().unwrap().id), ("payin.created", a.id.clone()));
    assert_eq!(serde_json::from_str::<kasir_client::Event>(&raw).unwrap(), created, "the bytes are the event");
    assert_eq!(stream.position(), Some(created.id.as_str()));
    drop(stream);

    // Closed, and meanwhile a confirm: a stream from the last event gives exactly what followed.
    let confirmed = kasir.confirm_payin(&a.id, &Phone::indonesian("081234567890")).await.unwrap();
    let mut after = Vec::new();
    let mut ids = kasir.events(ListParams::default());
    while let Some(e) = ids.next().await.unwrap() {
        if e.id == created.id {
            break;
        }
        after.push(e.id);
    }
    after.reverse();
    let mut resumed = kasir.event_stream(Some(&created.id));
    assert_eq!(resumed.next().await.unwrap(), StreamItem::Connected { resumed_after: Some(created.id.clone()) });
    let mut got = Vec::new();
    for _ in 0..after.len() {
        got.push(event(&mut resumed).await.0);
    }
    let mut got_ids: Vec<String> = got.iter().map(|e| e.id.clone()).collect();
    got_ids.sort();
    after.sort();
    assert_eq!(got_ids, after, "every later event once");
    assert!(got.iter().any(|e| e.payin().is_some_and(|p| p.latest_payment_attempt == confirmed.latest_payment_attempt)));

    // What reconnecting cannot mend is an error: a position the server does not know, a wrong key.
    let unknown = kasir.event_stream(Some("evt_nope")).next().await.unwrap_err();
    assert_eq!(unknown.code(), Some(1002), "{unknown}");
    let stranger = Client::new(&app.base, SEED_ACCESS_KEY, "sk_test_wrong").event_stream(None).next().await.unwrap_err();
    assert!(matches!(stranger, kasir_client::Error::Api { status: 401, .. }), "{stranger}");
}
}
