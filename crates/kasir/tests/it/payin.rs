//! The payin lifecycle through the SDK: update, cancel, list, customers, attempts.

use kasir_client::{Client, CustomerDetails, Error, ListParams, NewRefund, Phone};
use serde_json::json;

use crate::helpers::{assert_refused, confirm, new_payin, payin_body, TestApp};

/// A number as the merchant's form sent it, not normalised on the way.
fn as_typed(number: &str) -> Phone {
    Phone { calling_code: "62".into(), number: number.into() }
}

fn phone_of(p: &kasir_client::Payin) -> serde_json::Value {
    p.extra["payment_method_details"]["ovo_idr"]["phone"]["number"].clone()
}

backend_tests! {
async fn phone_numbers_are_normalised_to_the_national_number() {
    let app = TestApp::spawn().await;
    for raw in ["081234567890", "+6281234567890", "6281234567890", "0812-3456-7890"] {
        let id = app.create_payin(10_000_000).await;
        let p = app.kasir.confirm_payin(&id, &as_typed(raw)).await.unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(phone_of(&p), "81234567890", "{raw}");
    }
}
}

backend_tests! {
async fn the_sandbox_number_is_accepted_in_test_mode() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let p = app.kasir.confirm_payin(&id, &as_typed("0123456789")).await.unwrap();
    assert_eq!(phone_of(&p), "0123456789");
}
}

backend_tests! {
async fn amount_limits_are_inclusive() {
    let app = TestApp::spawn().await;
    for (amount, ok) in [(10_000, true), (9_900, false), (2_000_000_000, true), (2_000_000_100, false)] {
        let id = app.create_payin(amount).await;
        let a = app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await;
        assert_eq!(a.is_ok(), ok, "{amount}: {a:?}");
    }
}
}

backend_tests! {
async fn update_changes_fields_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let p = app
        .kasir
        .update_payin(&id, &json!({"metadata": {"order": "A-1"}, "reference_id": "A-1", "success_url": "https://shop.example/ok"}))
        .await
        .unwrap();
    assert_eq!(p.extra["metadata"], json!({"order": "A-1"}));
    assert_eq!(p.reference_id, "A-1");
    assert_eq!(p.extra["success_url"], "https://shop.example/ok");
    assert_eq!(p.transaction_description, "1 X Good");
    assert_eq!(p.status, "requires_payment_method");
    assert_eq!(app.kasir.payin(&id).await.unwrap(), p);
}
}

backend_tests! {
async fn a_cancelled_payin_still_takes_metadata() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    app.kasir.cancel_payin(&id).await.unwrap();
    let p = app.kasir.update_payin(&id, &json!({"metadata": {"note": "customer left"}})).await.unwrap();
    assert_eq!(p.status, "cancelled");
    assert_eq!(p.extra["metadata"], json!({"note": "customer left"}));
}
}

backend_tests! {
async fn cancelling_an_awaiting_payin_fails_its_attempt() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(10_000_000).await;
    let cancelled = app.kasir.cancel_payin(&p.id).await.unwrap();
    assert_eq!(cancelled.status, "cancelled");
    assert!(cancelled.extra["cancelled_at"].is_string());
    let attempt = app.kasir.payment_attempt(&p.latest_payment_attempt).await.unwrap();
    assert_eq!(attempt.status, "failed");
    assert!(attempt.status_description.contains("cancelled"), "{}", attempt.status_description);
    // And a cancelled payin cannot be confirmed again.
    assert_refused(app.kasir.confirm_payin_with(&p.id, &confirm("81234567890")).await, 409, 19626, "status");
}
}

backend_tests! {
async fn list_is_newest_first_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_payin(10_000_000).await);
    }
    app.kasir.confirm_payin_with(&ids[1], &confirm("81234567890")).await.unwrap();
    let page = |after: Option<&str>| ListParams { limit: Some(2), starting_after: after.map(str::to_string), ..ListParams::default() };
    let ids_of = |l: &kasir_client::List<kasir_client::Payin>| l.data.iter().map(|p| p.id.clone()).collect::<Vec<_>>();

    let page1 = app.kasir.list_payins(&page(None)).await.unwrap();
    assert_eq!(ids_of(&page1), [ids[4].as_str(), ids[3].as_str()]);
    assert!(page1.has_more);
    let page2 = app.kasir.list_payins(&page(Some(&ids[3]))).await.unwrap();
    assert_eq!(ids_of(&page2), [ids[2].as_str(), ids[1].as_str()]);
    let last = app.kasir.list_payins(&page(Some(&ids[1]))).await.unwrap();
    assert_eq!(ids_of(&last), [ids[0].as_str()]);
    assert!(!last.has_more);

    let awaiting = app.kasir.list_payins(&ListParams::default().filter("status", "requires_action")).await.unwrap();
    assert_eq!(ids_of(&awaiting), [ids[1].as_str()]);
    // Every page in turn gives all five, newest first.
    let all = app.kasir.payins(ListParams { limit: Some(2), ..ListParams::default() }).all().await.unwrap();
    assert_eq!(all.into_iter().map(|p| p.id).collect::<Vec<_>>(), ids.iter().rev().cloned().collect::<Vec<_>>());

    // The other mode's payins are not listed.
    assert!(app.live.list_payins(&ListParams::default()).await.unwrap().data.is_empty());
}
}

backend_tests! {
async fn a_named_customer_is_used_instead_of_creating_one() {
    let app = TestApp::spawn().await;
    let details = CustomerDetails::new("Budi", "budi@example.com", "id");
    let customer = app.kasir.create_customer(&details).await.unwrap();
    assert!(customer.id.starts_with("cus_") && customer.id.len() == 24, "{}", customer.id);
    assert_eq!(customer.country, "ID");
    let id = app.create_payin(10_000_000).await;
    let p = app
        .kasir
        .confirm_payin_with(&id, &kasir_client::Confirm::new(Phone::indonesian("81234567890")).customer(&customer.id))
        .await
        .unwrap();
    assert_eq!(p.extra["customer"], customer.id.as_str());
    assert_eq!(p.extra["customer_details"]["name"], "Budi");
    assert_eq!(app.kasir.customer(&customer.id).await.unwrap(), customer);
    assert_eq!(app.count("customers").await, 1);
}
}

backend_tests! {
async fn attempt_metadata_can_be_updated() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(10_000_000).await;
    let pat = &p.latest_payment_attempt;
    let a = app.kasir.update_payment_attempt(pat, &json!({"pos": "till-3"})).await.unwrap();
    assert_eq!(a.extra["metadata"], json!({"pos": "till-3"}));
    assert_eq!(app.kasir.payment_attempt(pat).await.unwrap().extra["metadata"], json!({"pos": "till-3"}));
}
}

backend_tests! {
async fn unknown_fields_are_ignored() {
    // A wire test: a body the SDK would never send.
    let app = TestApp::spawn().await;
    let mut body = payin_body(10_000_000);
    body["some_future_field"] = json!({"x": 1});
    assert_eq!(app.post("/v3/payin", &body).await.status, 200);
}
}

backend_tests! {
async fn state_changes_record_events() {
    let app = TestApp::spawn().await;
    let id = app.confirmed_payin(10_000_000).await.id;
    let scope = kasir_store::Scope {
        account_id: app.store.read(|tx| tx.first_account()).await.unwrap().unwrap(),
        mode: kasir_domain::Mode::Test,
    };
    let events = app.store.read(move |tx| tx.events_of(&scope, &id)).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payin.created", "payin.requires_action"]);
    assert_eq!(events[1].data_value()["status"], "requires_action");
}
}

backend_tests! {
async fn a_read_after_an_acknowledged_change_sees_it_even_while_others_read() {
    // Readers poll the payins the whole time (as merchants do while a customer approves), so reads race
    // every write; a read begun after a write was answered must show that write, never an older copy.
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(app.create_payin(10_000_000).await);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for k in 0..4 {
        let (kasir, ids, stop) = (app.kasir.clone(), ids.clone(), stop.clone());
        pollers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kasir.payin(&ids[(n + k) % ids.len()]).await.expect("a poll");
                n += 1;
            }
            n
        }));
    }
    for (i, id) in ids.iter().enumerate() {
        let changed = if i % 2 == 0 {
            app.kasir.confirm_payin_with(id, &confirm("81234567890")).await
        } else {
            app.kasir.cancel_payin(id).await
        };
        let changed = changed.unwrap();
        assert_eq!(app.kasir.payin(id).await.unwrap(), changed, "the read after the change");
        let named = app.kasir.update_payin(id, &json!({"reference_id": format!("R-{i}")})).await.unwrap();
        assert_eq!(named.reference_id, format!("R-{i}"));
        assert_eq!(app.kasir.payin(id).await.unwrap().reference_id, format!("R-{i}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in pollers {
        assert!(p.await.unwrap() > 0, "each poller read while the writes ran");
    }
    // Another account's key never reads these payins, cached or not.
    assert_refused(app.live.payin(&ids[0]).await, 404, 105, "id");
}
}

backend_tests! {
async fn another_accounts_key_sees_none_of_this_accounts_objects() {
    let app = TestApp::spawn().await;
    let mine = app.confirmed_payin(5_000_000).await;
    let now = kasir_domain::Clock::now(&app.clock);
    let pair = kasir_app::keys::KeyPair::generate(kasir_domain::Mode::Test);
    let p = pair.clone();
    app.store
        .write(move |tx| -> Result<(), kasir_app::accounts::AccountError> {
            let other = kasir_app::accounts::create(tx, "Toko Lain", now)?;
            kasir_app::accounts::add_key(tx, &p, &other, now)?;
            Ok(())
        })
        .await
        .unwrap();
    let theirs = Client::new(&app.base, &pair.access_key, &pair.secret_key);
    assert_refused(theirs.payin(&mine.id).await, 404, 105, "id");
    assert_refused(theirs.payment_attempt(&mine.latest_payment_attempt).await, 404, 105, "id");
    assert_refused(theirs.customer(mine.extra["customer"].as_str().unwrap()).await, 404, 105, "id");
    assert!(theirs.list_payins(&ListParams::default()).await.unwrap().data.is_empty());
    assert!(theirs.events(ListParams::default()).next().await.unwrap().is_none());
    assert!(theirs.refunds(ListParams::default()).next().await.unwrap().is_none());
    let refund = theirs.create_refund(&NewRefund { payin: mine.id.clone(), ..NewRefund::default() }).await;
    assert_refused(refund, 404, 30000, "payin");
}
}

backend_tests! {
async fn a_live_confirm_without_a_wallet_connection_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    let refused = app.live.create_payin(&new_payin(5_000_000).confirm_with(Phone::indonesian("81234567890"))).await;
    match &refused {
        Err(Error::Api { message, .. }) => {
            assert!(message.contains("live keys") && message.contains("docs/ovo.md"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_refused(refused, 400, 1007, "payment_method_details.type");
    assert_eq!(app.row_counts().await, before, "confirm: true left nothing behind");
    // Created alone it is kept, and its confirm is refused the same way.
    let id = app.live.create_payin(&new_payin(5_000_000)).await.unwrap().id;
    assert_refused(app.live.confirm_payin_with(&id, &confirm("81234567890")).await, 400, 1007, "payment_method_details.type");
    assert_eq!(app.live.payin(&id).await.unwrap().status, "requires_payment_method");
    // A payin that cannot be confirmed at all says that first.
    app.live.cancel_payin(&id).await.unwrap();
    assert_refused(app.live.confirm_payin_with(&id, &confirm("81234567890")).await, 409, 19626, "status");
}
}
