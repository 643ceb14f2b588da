//! Whole `kasir serve` processes: crashes, several processes on one PostgreSQL, and faults under load.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use kasir_client::{Client, NewPayin, Payin};

use crate::helpers::{
    confirm, fresh_database, new_payin, postgres_enabled, Backend, Receiver, BACKEND, SEED_ACCESS_KEY, SEED_SECRET_KEY,
};
use crate::serve::{add_seed_keys, sigterm, spawn_serve};

/// The SDK on the seed's test keys, against the process at `addr`; a refused or lost request is not
/// tried again, so what a test counts as acknowledged is exactly what was answered.
fn sdk(addr: &str) -> Client {
    Client::new(&format!("http://{addr}"), SEED_ACCESS_KEY, SEED_SECRET_KEY).retries(0)
}

fn one_call(url: &str) -> NewPayin {
    let mut new = new_payin(5_000_000).webhook_url(url);
    let c = confirm("81234567890");
    (new.confirm, new.payment_method_details, new.customer_details) =
        (Some(true), Some(c.payment_method_details), c.customer_details);
    new
}

/// Creates and confirms a payin in one call, its webhooks going to `webhook_url`.
async fn create_confirmed(addr: &str, webhook_url: &str) -> Payin {
    sdk(addr).create_payin(&one_call(webhook_url)).await.expect("create and confirm")
}

/// Runs SQL against a test database, off the async runtime.
fn sql(url: &str, query: &str) -> Vec<Vec<String>> {
    let (url, query) = (url.to_string(), query.to_string());
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.simple_query(&query)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect())
                }
                _ => None,
            })
            .collect()
    })
    .join()
    .unwrap()
}

backend_tests! {
async fn a_process_killed_while_a_webhook_is_in_flight_sends_it_again_after_restart() {
    let db = fresh_database();
    add_seed_keys(&db.url);
    // The success webhook reaches the receiver, which holds it unanswered while the process dies.
    let receiver = Receiver::stalling_first("payin.succeeded").await;
    let args = ["--sandbox-delay", "1s", "--webhook-timeout", "2s"];
    let (mut first, addr) = spawn_serve(&db.url, &args);
    create_confirmed(&addr, &receiver.url).await;
    let succeeded = |h: &[crate::helpers::Hit]| h.iter().filter(|h| h.json()["type"] == "payin.succeeded").count();
    receiver.wait_for(20, |h| succeeded(h) == 1).await;
    first.kill().unwrap();
    first.wait().unwrap();

    // The next process finds the delivery's lease lapsed and makes it again: the same event, the same
    // webhook-id, so the merchant can tell it is a repeat.
    let (second, _) = spawn_serve(&db.url, &args);
    let hits = receiver.wait_for(30, |h| succeeded(h) >= 2).await;
    let ids: Vec<String> =
        hits.iter().filter(|h| h.json()["type"] == "payin.succeeded").map(|h| h.header("webhook-id")).collect();
    assert_eq!(ids[0], ids[1], "{ids:?}");
    sigterm(second).await;
}

async fn a_process_killed_before_the_outcome_is_due_is_finished_by_the_next_one() {
    let db = fresh_database();
    add_seed_keys(&db.url);
    let receiver = Receiver::start().await;
    let (mut first, addr) = spawn_serve(&db.url, &["--sandbox-delay", "3s", "--webhook-timeout", "2s"]);
    let id = create_confirmed(&addr, &receiver.url).await.id;

    // SIGKILL: no shutdown, no flush, nothing in memory survives.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(receiver.of_type("payin.succeeded").is_empty(), "the outcome was not due yet");

    let (second, addr) = spawn_serve(&db.url, &["--sandbox-delay", "3s", "--webhook-timeout", "2s"]);
    let hits = receiver.wait_for(20, |h| h.iter().any(|h| h.json()["type"] == "payin.succeeded")).await;
    let success = hits.iter().find(|h| h.json()["type"] == "payin.succeeded").unwrap().json();
    assert_eq!(success["data"]["id"], id.as_str());
    // The push notice was delivered before the kill or is delivered now: either way it arrives.
    receiver.wait_for(20, |h| h.iter().any(|h| h.json()["type"] == "payin.requires_action")).await;
    assert_eq!(sdk(&addr).payin(&id).await.unwrap().status, "succeeded");
    sigterm(second).await;
}
}

/// Sends `n` one-call confirms spread over `addrs`, 16 at a time; returns the acknowledged payin ids.
/// Every other one is sent as `curl` sends it (no `Idempotency-Key`, no `Content-Type`), the rest
/// through the SDK (with a key), so both paths are held to "nothing acknowledged is lost".
async fn confirm_many(addrs: &[String], n: usize, url: &str) -> Vec<String> {
    use futures::stream::{self, StreamExt};
    let (new, clients) = (one_call(url), addrs.iter().map(|a| sdk(a)).collect::<Vec<_>>());
    let (raw, http) = (serde_json::to_string(&new).unwrap(), reqwest::Client::new());
    stream::iter(0..n)
        .map(|i| {
            let (kasir, new) = (clients[i % clients.len()].clone(), new.clone());
            let (http, raw, addr) = (http.clone(), raw.clone(), addrs[i % addrs.len()].clone());
            async move {
                if i % 2 == 0 {
                    return kasir.create_payin(&new).await.ok().map(|p| p.id);
                }
                let res = http
                    .post(format!("http://{addr}/v3/payin"))
                    .header("authorization", crate::helpers::SEED_AUTHORIZATION)
                    .body(raw)
                    .send()
                    .await
                    .ok()?;
                let v: serde_json::Value = res.json().await.ok()?;
                v["data"]["id"].as_str().map(str::to_string)
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_settle_every_attempt_once_and_deliver_every_event_once() {
    if !postgres_enabled() {
        return;
    }
    BACKEND
        .scope(Backend::Postgres, async {
            const N: usize = 200;
            let db = fresh_database();
            add_seed_keys(&db.url);
            let receiver = Receiver::start().await;
            let (a, addr_a) = spawn_serve(&db.url, &["--sandbox-delay", "1s"]);
            let (b, addr_b) = spawn_serve(&db.url, &["--sandbox-delay", "1s"]);
            let ids = confirm_many(&[addr_a.clone(), addr_b.clone()], N, &receiver.url).await;
            assert_eq!(ids.len(), N, "every confirm is acknowledged");

            receiver.wait_for(60, |h| h.iter().filter(|h| h.json()["type"] == "payin.succeeded").count() >= N).await;
            // Let any duplicate show itself before counting.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let hits = receiver.hits();
            let mut per_event: HashMap<String, usize> = HashMap::new();
            for h in &hits {
                *per_event.entry(h.header("webhook-id")).or_default() += 1;
            }
            let twice: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "events delivered twice while both processes were up: {twice:?}");
            assert_eq!(hits.len(), 2 * N, "requires_action and succeeded for each payin");

            let settled = sql(
                &db.url,
                "SELECT count(*), count(DISTINCT object_id) FROM events WHERE type = 'payment_attempt.succeeded'",
            );
            assert_eq!(settled[0], [N.to_string(), N.to_string()], "every attempt settled exactly once");
            let stuck = sql(&db.url, "SELECT count(*) FROM payins WHERE status <> 'succeeded'");
            assert_eq!(stuck[0][0], "0");
            let left = sql(&db.url, "SELECT count(*) FROM jobs WHERE kind <> 'attempt_timer'");
            assert_eq!(left[0][0], "0", "no delivery left to make");
            let unique: HashSet<String> = ids.into_iter().collect();
            assert_eq!(unique.len(), N);
            sigterm(a).await;
            sigterm(b).await;
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_under_load_loses_nothing_acknowledged() {
    if !postgres_enabled() {
        return;
    }
    BACKEND
        .scope(Backend::Postgres, async {
            let db = fresh_database();
            add_seed_keys(&db.url);
            let receiver = Receiver::start().await;
            let args = ["--sandbox-delay", "1s", "--webhook-timeout", "2s"];
            let (mut a, addr_a) = spawn_serve(&db.url, &args);
            let (b, addr_b) = spawn_serve(&db.url, &args);

            // A steady load over both processes; halfway, one is killed and then restarted.
            let mut acked: Vec<String> = Vec::new();
            let started = Instant::now();
            let mut addrs = vec![addr_a.clone(), addr_b.clone()];
            let mut killed = false;
            let mut restarted = None;
            for round in 0..30 {
                acked.extend(confirm_many(&addrs, 20, &receiver.url).await);
                if round == 10 {
                    a.kill().unwrap();
                    a.wait().unwrap();
                    killed = true;
                }
                if round == 15 {
                    let (a2, addr_a2) = spawn_serve(&db.url, &args);
                    addrs = vec![addr_a2, addr_b.clone()];
                    restarted = Some(a2);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(killed && restarted.is_some());
            let load_secs = started.elapsed().as_secs_f64();

            // Everything acknowledged settles and is reported.
            let want: HashSet<String> = acked.iter().cloned().collect();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let got: HashSet<String> = receiver
                    .of_type("payin.succeeded")
                    .iter()
                    .map(|h| h.json()["data"]["id"].as_str().unwrap().to_string())
                    .collect();
                if want.is_subset(&got) {
                    break;
                }
                assert!(Instant::now() < deadline, "{} acknowledged payins never reported success", want.difference(&got).count());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Give lapsed leases time to finish before counting deliveries.
            let deadline = Instant::now() + Duration::from_secs(30);
            while sql(&db.url, "SELECT count(*) FROM jobs WHERE kind = 'deliver'")[0][0] != "0" {
                assert!(Instant::now() < deadline, "deliveries still pending");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }

            let kasir = sdk(&addr_b);
            for id in &acked {
                let p = kasir.payin(id).await.unwrap();
                assert_eq!(p.status, "succeeded", "acknowledged payin {id} exists and settled");
            }
            let outcomes = sql(&db.url, "SELECT count(*), count(DISTINCT object_id) FROM events WHERE type = 'payment_attempt.succeeded'");
            assert_eq!(outcomes[0][0], outcomes[0][1], "every due outcome happened exactly once");
            let stuck = sql(&db.url, "SELECT count(*) FROM payment_attempts WHERE status IN ('requires_action', 'processing')");
            assert_eq!(stuck[0][0], "0", "nothing stuck in a non-final state past its due time");
            // Every event meant for the receiver reached it at least once.
            let events: HashSet<String> = sql(&db.url, "SELECT id FROM events WHERE type IN ('payin.requires_action', 'payin.succeeded')")
                .into_iter()
                .map(|r| r[0].clone())
                .collect();
            let mut received: HashMap<String, usize> = HashMap::new();
            for h in receiver.hits() {
                *received.entry(h.header("webhook-id")).or_default() += 1;
            }
            let missing = events.iter().filter(|e| !received.contains_key(*e)).count();
            let duplicates: usize = received.values().map(|n| n - 1).sum();
            println!(
                "fault test: {} acknowledged in {load_secs:.1} s, {} settled, {} events delivered, {missing} missing, {duplicates} duplicates (at least once: a killed process's in-flight deliveries are made again)",
                acked.len(),
                outcomes[0][0],
                received.len(),
            );
            assert_eq!(missing, 0, "every event delivered at least once");
            sigterm(restarted.unwrap()).await;
            sigterm(b).await;
        })
        .await
}
