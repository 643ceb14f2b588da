//! The payin lifecycle through the API: update, cancel, list, customers, attempts.

use serde_json::{json, Value};

use crate::helpers::{confirm_body, is_id, payin_body, TestApp};

backend_tests! {
async fn phone_numbers_are_normalised_to_the_national_number() {
    let app = TestApp::spawn().await;
    for raw in ["081234567890", "+6281234567890", "6281234567890", "0812-3456-7890"] {
        let id = app.create_payin(10_000_000).await;
        let a = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body(raw)).await;
        assert_eq!(a.status, 200, "{raw}: {}", a.body);
        assert_eq!(a.data()["payment_method_details"]["ovo_idr"]["phone"]["number"], "81234567890", "{raw}");
    }
}
}

backend_tests! {
async fn the_sandbox_number_is_accepted_in_test_mode() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let a = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("0123456789")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["payment_method_details"]["ovo_idr"]["phone"]["number"], "0123456789");
}
}

backend_tests! {
async fn amount_limits_are_inclusive() {
    let app = TestApp::spawn().await;
    for (amount, ok) in [(10_000, true), (9_900, false), (2_000_000_000, true), (2_000_000_100, false)] {
        let id = app.create_payin(amount).await;
        let a = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
        assert_eq!(a.status == 200, ok, "{amount}: {}", a.body);
    }
}
}

backend_tests! {
async fn update_changes_fields_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    let a = app
        .put(
            &format!("/v3/payin/{id}"),
            &json!({"metadata": {"order": "A-1"}, "reference_id": "A-1", "success_url": "https://shop.example/ok"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["metadata"], json!({"order": "A-1"}));
    assert_eq!(a.data()["reference_id"], "A-1");
    assert_eq!(a.data()["success_url"], "https://shop.example/ok");
    assert_eq!(a.data()["transaction_description"], "1 X Good");
    assert_eq!(a.data()["status"], "requires_payment_method");
    assert_eq!(app.get(&format!("/v3/payin/{id}")).await.body, a.body);
}
}

backend_tests! {
async fn a_cancelled_payin_still_takes_metadata() {
    let app = TestApp::spawn().await;
    let id = app.create_payin(10_000_000).await;
    assert_eq!(app.post(&format!("/v3/payin/{id}/cancel"), &json!({})).await.status, 200);
    let a = app.put(&format!("/v3/payin/{id}"), &json!({"metadata": {"note": "customer left"}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["status"], "cancelled");
}
}

backend_tests! {
async fn cancelling_an_awaiting_payin_fails_its_attempt() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(10_000_000).await;
    let id = p["id"].as_str().unwrap();
    let a = app.post(&format!("/v3/payin/{id}/cancel"), &json!({})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.data()["status"], "cancelled");
    assert!(a.data()["cancelled_at"].is_string());
    let pat = p["latest_payment_attempt"].as_str().unwrap();
    let attempt = app.get(&format!("/v3/payment_attempt/{pat}")).await;
    assert_eq!(attempt.data()["status"], "failed");
    assert!(attempt.data()["status_description"].as_str().unwrap().contains("cancelled"));
    // And a cancelled payin cannot be confirmed again.
    let again = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
    again.assert_error(409, 19626, "status");
}
}

backend_tests! {
async fn list_is_newest_first_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_payin(10_000_000).await);
    }
    let confirmed = app.post(&format!("/v3/payin/{}/confirm", ids[1]), &confirm_body("81234567890")).await;
    assert_eq!(confirmed.status, 200);

    let page1 = app.get("/v3/payin?limit=2").await;
    assert_eq!(page1.data()["object"], "list");
    let got: Vec<&str> = page1.data()["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(page1.data()["has_more"], true);

    let page2 = app.get(&format!("/v3/payin?limit=2&starting_after={}", ids[3])).await;
    let got: Vec<&str> = page2.data()["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);

    let last = app.get(&format!("/v3/payin?limit=2&starting_after={}", ids[1])).await;
    assert_eq!(last.data()["data"].as_array().unwrap().len(), 1);
    assert_eq!(last.data()["has_more"], false);

    let awaiting = app.get("/v3/payin?status=requires_action").await;
    let got: Vec<&str> =
        awaiting.data()["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[1].as_str()]);

    // The other mode's payins are not listed.
    let live = app.send("GET", "/v3/payin", Some(&app.live_auth), &[], None).await;
    assert_eq!(live.data()["data"], json!([]));
}
}

backend_tests! {
async fn a_named_customer_is_used_instead_of_creating_one() {
    let app = TestApp::spawn().await;
    let c = app
        .post(
            "/v3/customer",
            &json!({"name": "Budi", "email": "budi@example.com", "country": "id", "reference_id": "u-7"}),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert!(is_id(&c.data()["id"], "cus_"));
    assert_eq!(c.data()["country"], "ID");
    let cus = c.id();
    let id = app.create_payin(10_000_000).await;
    let mut body = confirm_body("81234567890");
    body.as_object_mut().unwrap().remove("customer_details");
    body["customer"] = json!(cus);
    let a = app.post(&format!("/v3/payin/{id}/confirm"), &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["customer"], cus.as_str());
    assert_eq!(a.data()["customer_details"]["name"], "Budi");
    assert_eq!(app.count("customers").await, 1);
}
}

backend_tests! {
async fn attempt_metadata_can_be_updated() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(10_000_000).await;
    let pat = p["latest_payment_attempt"].as_str().unwrap();
    let a = app.put(&format!("/v3/payment_attempt/{pat}"), &json!({"metadata": {"pos": "till-3"}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.data()["metadata"], json!({"pos": "till-3"}));
    assert_eq!(app.get(&format!("/v3/payment_attempt/{pat}")).await.data()["metadata"], json!({"pos": "till-3"}));
}
}

backend_tests! {
async fn unknown_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let mut body: Value = payin_body(10_000_000);
    body["some_future_field"] = json!({"x": 1});
    assert_eq!(app.post("/v3/payin", &body).await.status, 200);
}
}

backend_tests! {
async fn state_changes_record_events() {
    let app = TestApp::spawn().await;
    let p = app.confirmed_payin(10_000_000).await;
    let id = p["id"].as_str().unwrap().to_string();
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
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(app.create_payin(10_000_000).await);
        }
        v
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for k in 0..4 {
        let (app, ids, stop) = (app.clone(), ids.clone(), stop.clone());
        pollers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let a = app.get(&format!("/v3/payin/{}", ids[(n + k) % ids.len()])).await;
                assert_eq!(a.status, 200, "{}", a.body);
                n += 1;
            }
            n
        }));
    }
    for (i, id) in ids.iter().enumerate() {
        let changed = if i % 2 == 0 {
            app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await
        } else {
            app.post(&format!("/v3/payin/{id}/cancel"), &json!({})).await
        };
        assert_eq!(changed.status, 200, "{}", changed.body);
        let read = app.get(&format!("/v3/payin/{id}")).await;
        assert_eq!(read.body, changed.body, "the read after the change");
        let named = app.put(&format!("/v3/payin/{id}"), &json!({"reference_id": format!("R-{i}")})).await;
        assert_eq!(named.status, 200, "{}", named.body);
        assert_eq!(app.get(&format!("/v3/payin/{id}")).await.data()["reference_id"], format!("R-{i}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in pollers {
        assert!(p.await.unwrap() > 0, "each poller read while the writes ran");
    }
    // Another account's key never reads these payins, cached or not.
    let live = app.send("GET", &format!("/v3/payin/{}", ids[0]), Some(&app.live_auth), &[], None).await;
    assert_eq!(live.status, 404, "{}", live.body);
}
}

backend_tests! {
async fn another_accounts_key_sees_none_of_this_accounts_objects() {
    let app = TestApp::spawn().await;
    let mine = app.confirmed_payin(5_000_000).await;
    let id = mine["id"].as_str().unwrap().to_string();
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
    let theirs = crate::helpers::basic(&pair.access_key, &pair.secret_key);
    let paths = [
        format!("/v3/payin/{id}"),
        format!("/v3/payment_attempt/{}", mine["latest_payment_attempt"].as_str().unwrap()),
        format!("/v3/customer/{}", mine["customer"].as_str().unwrap()),
    ];
    for path in &paths {
        app.send("GET", path, Some(&theirs), &[], None).await.assert_error(404, 105, "id");
    }
    for list in ["/v3/payin", "/v3/event", "/v3/refund"] {
        let a = app.send("GET", list, Some(&theirs), &[], None).await;
        assert_eq!((a.status, a.data()["data"].clone()), (200, json!([])), "{list}: {}", a.body);
    }
    let refund = app.send("POST", "/v3/refund", Some(&theirs), &[], Some(&json!({"payin": id}).to_string())).await;
    refund.assert_error(404, 30000, "payin");
}
}

backend_tests! {
async fn a_live_confirm_without_a_wallet_connection_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    let mut one_call = payin_body(5_000_000);
    one_call["confirm"] = json!(true);
    one_call["payment_method_details"] = confirm_body("81234567890")["payment_method_details"].clone();
    let refused = app.send("POST", "/v3/payin", Some(&app.live_auth), &[], Some(&one_call.to_string())).await;
    refused.assert_error(400, 1007, "payment_method_details.type");
    let said = refused.body["errors"][0]["message"].as_str().unwrap();
    assert!(said.contains("live keys") && said.contains("docs/ovo.md"), "{said}");
    assert_eq!(app.row_counts().await, before, "confirm: true left nothing behind");
    // Created alone it is kept, and its confirm is refused the same way.
    let created = app.send("POST", "/v3/payin", Some(&app.live_auth), &[], Some(&payin_body(5_000_000).to_string())).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.id();
    let confirm = app
        .send("POST", &format!("/v3/payin/{id}/confirm"), Some(&app.live_auth), &[], Some(&confirm_body("81234567890").to_string()))
        .await;
    confirm.assert_error(400, 1007, "payment_method_details.type");
    let payin = app.send("GET", &format!("/v3/payin/{id}"), Some(&app.live_auth), &[], None).await;
    assert_eq!(payin.data()["status"], "requires_payment_method");
    // A payin that cannot be confirmed at all says that first.
    let cancel = app.send("POST", &format!("/v3/payin/{id}/cancel"), Some(&app.live_auth), &[], Some("{}")).await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let again = app
        .send("POST", &format!("/v3/payin/{id}/confirm"), Some(&app.live_auth), &[], Some(&confirm_body("81234567890").to_string()))
        .await;
    again.assert_error(409, 19626, "status");
}
}
