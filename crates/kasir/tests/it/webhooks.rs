//! Payments that finish: the sandbox's outcomes on durable timers, events, and signed webhooks.

use std::time::Duration;

use kasir_client::{ListParams, Payin};
use serde_json::{json, Value};

use crate::helpers::{assert_refused, confirm, deliveries, new_payin, quick_rules, Receiver, Settings, TestApp};

const SECOND: Duration = Duration::from_secs(1);

/// Creates a payin with `webhook_url` and confirms it with `number`; returns the confirmed payin.
async fn confirmed_to(app: &TestApp, receiver: &Receiver, amount: i64, number: &str) -> Payin {
    let id = app.kasir.create_payin(&new_payin(amount).webhook_url(&receiver.url)).await.unwrap().id;
    app.kasir.confirm_payin_with(&id, &confirm(number)).await.unwrap()
}

/// The payin ids of the `payin.succeeded` webhooks received, in order.
fn succeeded_ids(hits: &[crate::helpers::Hit]) -> Vec<Value> {
    hits.iter().map(|h| h.json()).filter(|j| j["type"] == "payin.succeeded").map(|j| j["data"]["id"].clone()).collect()
}

fn types(hits: &[crate::helpers::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.json()["type"].as_str().unwrap().to_string()).collect()
}

/// A payin created and confirmed in one call, its events going to `url`.
fn one_call(url: &str) -> kasir_client::NewPayin {
    new_payin(5_000_000).webhook_url(url).confirm_with(kasir_client::Phone::indonesian("81234567890"))
}

/// The events recorded for `object`, newest first, of `kind` if given.
async fn events_of(kasir: &kasir_client::Client, object: &str, kind: Option<&str>) -> Vec<kasir_client::Event> {
    let mut params = ListParams::default().filter("object_id", object);
    if let Some(k) = kind {
        params = params.filter("type", k);
    }
    kasir.events(params).all().await.unwrap()
}

backend_tests! {
async fn the_seed_flow_ends_in_a_success_webhook() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(2))).await;
    let receiver = Receiver::start().await;
    let payin = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    let id = payin.id.as_str();
    receiver.wait_for(5, |h| h.len() == 1).await;
    assert_eq!(types(&receiver.hits()), ["payin.requires_action"]);

    // Not before its time.
    app.advance(SECOND).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.kasir.payin(id).await.unwrap().status, "requires_action");

    app.advance(SECOND).await;
    let hits = receiver.wait_for(5, |h| h.len() == 2).await;
    let success = hits[1].json();
    assert_eq!(success["type"], "payin.succeeded");
    assert_eq!(success["object"], "event");
    assert!(success["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(success["data"]["id"], id);
    assert_eq!(success["data"]["status"], "succeeded");
    assert_eq!(success["data"]["amount_paid"], 5_000_000);
    assert_eq!(hits[1].header("webhook-id"), success["id"].as_str().unwrap());

    let now = app.kasir.payin(id).await.unwrap();
    assert_eq!((now.status.as_str(), now.amount_paid), ("succeeded", now.amount));
    let pat = &payin.latest_payment_attempt;
    assert_eq!(app.kasir.payment_attempt(pat).await.unwrap().status, "succeeded");
    // payment_attempt.succeeded is recorded but, by default, not sent.
    assert_eq!(events_of(&app.kasir, pat, None).await[0].kind, "payment_attempt.succeeded");
}
}

backend_tests! {
async fn the_failing_amount_fails_returns_the_payin_and_a_new_confirm_starts_a_new_attempt() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(70))).await;
    let receiver = Receiver::start().await;
    let payin = confirmed_to(&app, &receiver, 10_000_000, "81234567890").await;
    let (id, first) = (payin.id, payin.latest_payment_attempt);

    app.advance(Duration::from_secs(69)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.of_type("payment_attempt.failed").is_empty(), "not before 70 s");
    app.advance(SECOND).await;
    let hits = receiver.wait_for(5, |h| h.len() >= 3).await;
    // Deliveries run side by side: webhooks carry no order, so compare as sets.
    let mut got = types(&hits);
    got.sort();
    assert_eq!(got, ["payin.requires_action", "payin.requires_payment_method", "payment_attempt.failed"]);
    let failed = receiver.of_type("payment_attempt.failed")[0].json();
    assert_eq!(failed["data"]["id"], first.as_str());
    assert_eq!(failed["data"]["status"], "failed");
    assert!(!failed["data"]["status_description"].as_str().unwrap().is_empty());

    let p = app.kasir.payin(&id).await.unwrap();
    assert_eq!((p.status.as_str(), p.amount_paid), ("requires_payment_method", 0));

    // Confirm again: a new attempt and a new push.
    let again = app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap();
    assert_ne!(again.latest_payment_attempt, first);
    assert_eq!(again.status, "requires_action");
    receiver.wait_for(5, |h| h.len() == 4).await;
    assert_eq!(app.count("payment_attempts").await, 2);
}
}

backend_tests! {
async fn the_sandbox_catalogue_behaves_as_documented() {
    let app = TestApp::spawn_with(quick_rules(Duration::from_secs(70))).await;
    let receiver = Receiver::start().await;
    // (number, seconds after confirm when the outcome is due, expected attempt status, reason)
    let cases = [
        ("81100000014", 0, "failed", "not_registered"),
        ("81100000026", 0, "failed", "push_not_delivered"),
        ("81100000017", 70, "failed", "declined"),
        ("81100000051", 70, "failed", "insufficient_balance"),
        ("0123456789", 70, "succeeded", ""),
        ("81100000202", 295, "succeeded", ""),
        ("81100000408", 300, "failed", "expired"),
    ];
    let mut attempts = Vec::new();
    for (number, ..) in cases {
        attempts.push(confirmed_to(&app, &receiver, 5_000_000, number).await.latest_payment_attempt);
    }
    let mut elapsed = 0;
    for ((number, due, status, reason), pat) in cases.iter().zip(&attempts) {
        // One second before it is due, the attempt still waits (outcomes at 0 s are due on confirm).
        if *due > elapsed {
            app.advance(Duration::from_secs(due - 1 - elapsed)).await;
            elapsed = due - 1;
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(app.kasir.payment_attempt(pat).await.unwrap().status, "requires_action", "{number} at {elapsed}s");
            app.advance(SECOND).await;
            elapsed += 1;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let a = app.kasir.payment_attempt(pat).await.unwrap();
            if a.status == *status {
                assert!(a.status_description.starts_with(reason), "{number}: {}", a.status_description);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{number}: still {}", a.status);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
}

backend_tests! {
async fn the_sandbox_control_resolves_attempts_now_for_test_keys_only() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let p = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    let pat = &p.latest_payment_attempt;
    assert_refused(app.live.sandbox_attempt(pat, true, None).await, 404, 105, "path");
    assert_refused(app.kasir.sandbox_attempt(pat, false, Some("bored")).await, 400, 1002, "reason");

    let ok = app.kasir.sandbox_attempt(pat, false, Some("insufficient_balance")).await.unwrap();
    assert_eq!(ok.status, "failed");
    assert!(ok.status_description.starts_with("insufficient_balance"), "{}", ok.status_description);
    assert_refused(app.kasir.sandbox_attempt(pat, true, None).await, 409, 19627, "status");

    // A new attempt, resolved as a success at once; the timer that comes due later changes nothing.
    let pat2 = app.kasir.confirm_payin_with(&p.id, &confirm("81234567890")).await.unwrap().latest_payment_attempt;
    assert_eq!(app.kasir.sandbox_attempt(&pat2, true, None).await.unwrap().status, "succeeded");
    assert_eq!(app.kasir.payin(&p.id).await.unwrap().status, "succeeded");
    app.advance(Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let succeeded = receiver.of_type("payin.succeeded");
    assert_eq!(succeeded.len(), 1, "exactly one success");
    assert_eq!(app.kasir.payment_attempt(&pat2).await.unwrap().status, "succeeded");
}
}

backend_tests! {
async fn a_sandbox_control_without_a_body_is_taken() {
    // A wire test: `curl -X POST` with no body at all, as the seed guide's readers send it.
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let pat = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await.latest_payment_attempt;
    let path = format!("/v3/sandbox/payment_attempt/{pat}/succeed");
    let done = app.send("POST", &path, Some(&app.test_auth), &[], None).await;
    assert_eq!((done.status, done.data()["status"].clone()), (200, json!("succeeded")), "{}", done.body);
}
}

backend_tests! {
async fn a_failing_receiver_is_retried_with_one_event_and_one_webhook_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::answering(vec![(500, None), (500, None), (500, None)]).await;
    // A customer who never answers, so no other event shares the receiver's scripted answers.
    let p = confirmed_to(&app, &receiver, 5_000_000, "81100000408").await;
    // Only this event's tries: the sandbox's outcome sends others as the clock moves on.
    let tries_of = |h: &[crate::helpers::Hit]| types(h).iter().filter(|t| *t == "payin.requires_action").count();
    receiver.wait_for(5, |h| tries_of(h) == 1).await;
    for n in 2..=4 {
        app.advance(Duration::from_secs(60)).await;
        receiver.wait_for(5, |h| tries_of(h) == n).await;
    }
    app.advance(Duration::from_secs(3600)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = receiver.of_type("payin.requires_action");
    assert_eq!(hits.len(), 4, "three failures and one success, then nothing more");
    let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| i == &ids[0]));
    assert!(hits.iter().all(|h| h.body == hits[0].body), "every try carries the same body");

    assert_eq!(events_of(&app.kasir, &p.id, Some("payin.requires_action")).await.len(), 1);
    app.idle().await;
    let tries = app.kasir.deliveries(&ids[0]).await.unwrap().data;
    assert_eq!(tries.len(), 4);
    let statuses: Vec<_> = tries.iter().map(|t| t.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(200)]);
    assert!(tries[3].succeeded);
    assert_eq!(tries[0].error, "HTTP 500");
    assert_eq!(tries.iter().map(|t| t.attempt).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // The first retry comes within seconds.
    let first = kasir_domain::Timestamp::parse_rfc3339(&tries[0].attempted_at).unwrap();
    let next = kasir_domain::Timestamp::parse_rfc3339(tries[0].next_attempt_at.as_deref().unwrap()).unwrap();
    assert!(next.as_micros() - first.as_micros() <= 1_100_000);
    assert_eq!(tries[3].next_attempt_at, None);
}
}

backend_tests! {
async fn retry_after_is_honoured() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::answering(vec![(503, Some("120"))]).await;
    confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    let hits = receiver.wait_for(5, |h| h.len() == 1).await;
    let event = hits[0].header("webhook-id");
    let tries = || receiver.hits().iter().filter(|h| h.header("webhook-id") == event).count();
    app.advance(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tries(), 1, "not before Retry-After");
    app.advance(Duration::from_secs(61)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tries() < 2 {
        assert!(std::time::Instant::now() < deadline, "no retry after Retry-After");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.idle().await;
    assert_eq!(app.kasir.deliveries(&event).await.unwrap().data.len(), 2);
}
}

backend_tests! {
async fn connection_errors_are_recorded_and_resend_sends_again() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // A port nobody listens on.
    let dead = "http://127.0.0.1:9/webhook";
    let id = app.kasir.create_payin(&new_payin(5_000_000).webhook_url(dead)).await.unwrap().id;
    app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap();
    let evt = events_of(&app.kasir, &id, Some("payin.requires_action")).await.remove(0).id;
    let tries = deliveries(&app.kasir, &evt, 1).await;
    let t = tries.first().expect("a delivery recorded");
    assert_eq!(t.http_status, None);
    assert!(t.error.starts_with("connection failed"), "{t:?}");

    // The merchant fixes the URL and asks for the event again.
    app.kasir.update_payin(&id, &json!({"webhook_url": receiver.url})).await.unwrap();
    assert_eq!(app.kasir.resend_event(&evt).await.unwrap().id, evt);
    let hits = receiver.wait_for(5, |h| !h.is_empty()).await;
    assert_eq!(hits[0].header("webhook-id"), evt);
    assert_refused(app.kasir.resend_event("evt_aaaaaaaaaaaaaaaaaaaa").await, 404, 105, "id");
}
}

backend_tests! {
async fn event_types_can_be_turned_on_and_off_per_account() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.switch_event_type(kasir_domain::EventType::PayinCreated, true).await;
    app.switch_event_type(kasir_domain::EventType::PayinRequiresAction, false).await;
    let p = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    receiver.wait_for(5, |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(types(&receiver.hits()), ["payin.created"]);
    // Both events are recorded all the same.
    let all = events_of(&app.kasir, &p.id, None).await;
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payin.requires_action", "payin.created"]);
    let one = app.kasir.event(&all[1].id).await.unwrap();
    assert_eq!(one.payin().unwrap().status, "requires_payment_method", "the object as it was then");
}
}

backend_tests! {
async fn live_webhooks_never_reach_private_addresses() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // A live payin's first event: payin.created, switched on (no live wallet is configured to confirm it).
    app.switch_event_type(kasir_domain::EventType::PayinCreated, true).await;
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    for url in [format!("https://127.0.0.1:{port}/webhook"), format!("https://localhost:{port}/webhook")] {
        let id = app.live.create_payin(&new_payin(5_000_000).webhook_url(&url)).await.unwrap().id;
        let evt = events_of(&app.live, &id, None).await.remove(0).id;
        let tries = deliveries(&app.live, &evt, 1).await;
        let t = tries.first().unwrap_or_else(|| panic!("{url}: no delivery recorded"));
        assert!(t.error.starts_with("refused: "), "{url}: {t:?}");
    }
    assert!(receiver.hits().is_empty(), "nothing reached the private address");
}
}

backend_tests! {
async fn a_timer_whose_attempt_no_longer_decodes_waits_and_holds_up_no_other() {
    // Both outcomes are due in the same pass; the first's stored attempt does not decode (a row
    // edited by hand, or written by a newer version). The other payin settles anyway, and the first
    // settles once its row reads again, when its timer comes round an hour later.
    let rules = Settings { approval_window: Duration::from_secs(3 * 3600), ..quick_rules(2 * SECOND) };
    let app = TestApp::spawn_with(rules).await;
    let receiver = Receiver::start().await;
    let broken = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    let fine = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    receiver.wait_for(5, |h| h.len() == 2).await;
    let pat = broken.latest_payment_attempt.clone();
    app.sql(&format!("UPDATE payment_attempts SET data = 'x' || data WHERE id = '{pat}'")).await;

    app.advance(2 * SECOND).await;
    let hits = receiver.wait_for(5, |h| succeeded_ids(h).len() == 1).await;
    assert_eq!(succeeded_ids(&hits), [json!(fine.id)]);
    assert_eq!(app.kasir.payin(&broken.id).await.unwrap().status, "requires_action");

    app.sql(&format!("UPDATE payment_attempts SET data = substr(data, 2) WHERE id = '{pat}'")).await;
    app.advance(Duration::from_secs(3600)).await;
    let hits = receiver.wait_for(5, |h| succeeded_ids(h).len() == 2).await;
    assert_eq!(succeeded_ids(&hits)[1], json!(broken.id));
    assert_eq!(app.kasir.payin(&broken.id).await.unwrap().status, "succeeded");
}
}

backend_tests! {
async fn a_delivery_whose_event_no_longer_decodes_waits_and_holds_up_no_other() {
    // Two deliveries fail and are retried together; by then the first's stored event does not
    // decode. The other is delivered anyway; the first goes out once its event reads again.
    let app = TestApp::spawn().await;
    let receiver = Receiver::answering(vec![(500, None), (500, None)]).await;
    // Customers who never answer: only these events reach the receiver until the attempts expire.
    let broken = confirmed_to(&app, &receiver, 5_000_000, "81100000408").await;
    let fine = confirmed_to(&app, &receiver, 5_000_000, "81100000408").await;
    let tries_of = |h: &[crate::helpers::Hit], p: &Payin| {
        h.iter().map(|h| h.json()).filter(|j| j["type"] == "payin.requires_action" && j["data"]["id"] == p.id.as_str()).count()
    };
    receiver.wait_for(5, |h| tries_of(h, &broken) == 1 && tries_of(h, &fine) == 1).await;
    let id = broken.id.clone();
    app.sql(&format!("UPDATE events SET data = 'x' || data WHERE object_id = '{id}'")).await;

    app.advance(Duration::from_secs(60)).await;
    receiver.wait_for(5, |h| tries_of(h, &fine) == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tries_of(&receiver.hits(), &broken), 1);

    app.sql(&format!("UPDATE events SET data = substr(data, 2) WHERE object_id = '{id}'")).await;
    app.advance(Duration::from_secs(3600)).await;
    let hits = receiver.wait_for(5, |h| tries_of(h, &broken) == 2).await;
    // Waiting was not a try: the second try is numbered 2, and the retry schedule is whole.
    let event = hits.iter().find(|h| h.json()["data"]["id"] == broken.id.as_str()).unwrap().header("webhook-id");
    app.idle().await;
    let attempts: Vec<_> = app.kasir.deliveries(&event).await.unwrap().data.iter().map(|t| t.attempt).collect();
    assert_eq!(attempts, [1, 2]);
}
}

backend_tests! {
async fn an_account_that_no_longer_decodes_holds_up_no_other_accounts_timers() {
    // Both outcomes are due in the same pass; the first payin's account does not decode. Its timer
    // stops before changing anything and waits an hour; the other account's payin settles.
    use kasir_domain::{Clock as _, Mode};
    use kasir_app::keys::KeyPair;
    let rules = Settings { approval_window: Duration::from_secs(3 * 3600), ..quick_rules(2 * SECOND) };
    let app = TestApp::spawn_with(rules).await;
    let receiver = Receiver::start().await;
    let account = app.account().await;
    let pair = KeyPair::generate(Mode::Test);
    let (record, now) = (pair.record("acc_other", app.clock.now()), app.clock.now());
    app.store
        .write(move |tx| {
            tx.insert_account("acc_other", "Other", now)?;
            tx.insert_key(&record)
        })
        .await
        .unwrap();
    let theirs = kasir_client::Client::new(&app.base, &pair.access_key, &pair.secret_key);
    let other = theirs.create_payin(&one_call(&receiver.url)).await.unwrap();
    let mine = confirmed_to(&app, &receiver, 5_000_000, "81234567890").await;
    receiver.wait_for(5, |h| h.len() == 2).await;
    app.sql(&format!("UPDATE accounts SET event_types = 'x' WHERE id = '{account}'")).await;

    app.advance(2 * SECOND).await;
    let hits = receiver.wait_for(5, |h| succeeded_ids(h).len() == 1).await;
    assert_eq!(succeeded_ids(&hits), [json!(other.id)]);
    // Nothing of the stopped timer's change was kept.
    assert_eq!(app.kasir.payment_attempt(&mine.latest_payment_attempt).await.unwrap().status, "requires_action");
    assert_eq!(app.kasir.payin(&mine.id).await.unwrap().status, "requires_action");

    app.sql(&format!("UPDATE accounts SET event_types = '{{}}' WHERE id = '{account}'")).await;
    app.advance(Duration::from_secs(3600)).await;
    let hits = receiver.wait_for(5, |h| succeeded_ids(h).len() == 2).await;
    assert_eq!(succeeded_ids(&hits)[1], json!(mine.id));
}
}

backend_tests! {
async fn a_receiver_that_hangs_holds_up_no_other_receivers_webhooks() {
    use kasir_domain::{Clock as _, Mode};
    use kasir_app::keys::KeyPair;
    let app = TestApp::spawn_full(Settings::default(), true).await;
    // A receiver that takes every connection and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_url = format!("http://{}/webhook", hang.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hang.accept().await {
            held.push(conn);
        }
    });
    let hung = one_call(&hang_url);
    for _ in 0..200 {
        app.kasir.create_payin(&hung).await.unwrap();
    }
    // Let the hanging receiver's deliveries take what they can.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Another account's receiver, healthy.
    let pair = KeyPair::generate(Mode::Test);
    let (record, now) = (pair.record("acc_healthy", app.clock.now()), app.clock.now());
    app.store
        .write(move |tx| {
            tx.insert_account("acc_healthy", "Healthy", now)?;
            tx.insert_key(&record)
        })
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    let theirs = kasir_client::Client::new(&app.base, &pair.access_key, &pair.secret_key);
    let sent = std::time::Instant::now();
    theirs.create_payin(&one_call(&receiver.url)).await.unwrap();
    receiver.wait_for(10, |h| h.iter().any(|h| h.json()["type"] == "payin.requires_action")).await;
    let took = sent.elapsed();
    println!("fairness: the healthy receiver's webhook arrived {} ms after its payin, behind 200 to a hanging receiver", took.as_millis());
    assert!(took < Duration::from_secs(1), "{took:?}");
}
}
