//! Live OVO against the simulator (`kasir-ovo-sim`) on 127.0.0.1: pushes and their outcomes, the
//! reconciliation of pushes without an answer (status checks, reversals), cancels during a push, voids
//! and manual refunds, and crashes. OVO's timings are shrunk to seconds; the simulator's ledger is the
//! customer's side of every test.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kasir_app::wallet::ovo::{Message, Terminal};
use kasir_app::wallet::OvoConfig;
use kasir_domain::SystemClock;
use kasir_ovo_sim::{Sim, Standing};
use serde_json::{json, Value};

use crate::helpers::{confirm_body, payin_body, Settings, TestApp};

pub const APP_ID: &str = "toko-kasir";
pub const APP_KEY: &str = "a4f6bf89b2a85781b7c1cab997b7ee0c89be03f7ac6ef29b63a45d07253cc401";

/// How long the simulator holds a push nobody answers: past Kasir's push timeout.
const SIM_TIMEOUT: Duration = Duration::from_secs(3);
const PUSH_TIMEOUT: Duration = Duration::from_millis(1500);
const STATUS_INTERVAL: Duration = Duration::from_millis(300);
const WINDOW: Duration = Duration::from_secs(3);

/// A simulator serving on 127.0.0.1, and its URL.
pub async fn start_sim() -> (Sim, String) {
    start_sim_holding(SIM_TIMEOUT).await
}

/// A simulator that holds an unanswered push for `timeout`.
async fn start_sim_holding(timeout: Duration) -> (Sim, String) {
    let sim = Sim::new(kasir_ovo_sim::Config {
        app_id: APP_ID.into(),
        app_key: APP_KEY.into(),
        timeout,
        clock: Arc::new(SystemClock),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pos", listener.local_addr().unwrap());
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(listener, sim.router())));
    (sim, url)
}

pub fn ovo_config(url: &str) -> OvoConfig {
    OvoConfig {
        url: url.into(),
        app_id: APP_ID.into(),
        app_key: APP_KEY.into(),
        terminal: Terminal {
            tid: "T001".into(),
            mid: "M001".into(),
            merchant_id: "110".into(),
            store_code: "S01".into(),
        },
        timeout: PUSH_TIMEOUT,
        status_interval: STATUS_INTERVAL,
    }
}

struct Rig {
    app: TestApp,
    sim: Sim,
    sim_url: String,
}

impl Rig {
    /// Kasir (on the real clock unless `manual_clock`) with live keys connected to a fresh simulator.
    async fn start(manual_clock: bool) -> Rig {
        Rig::start_holding(manual_clock, SIM_TIMEOUT).await
    }

    async fn start_holding(manual_clock: bool, sim_timeout: Duration) -> Rig {
        let (sim, sim_url) = start_sim_holding(sim_timeout).await;
        let settings = Settings { approval_window: WINDOW, ovo: Some(ovo_config(&sim_url)), ..Settings::default() };
        let app = TestApp::spawn_full(settings, !manual_clock).await;
        Rig { app, sim, sim_url }
    }

    async fn live(&self, method: &str, path: &str, body: Option<Value>) -> crate::helpers::Answer {
        let body = body.map(|b| b.to_string());
        self.app.send(method, path, Some(&self.app.live_auth), &[], body.as_deref()).await
    }

    /// Creates and confirms a live payin to `number`; returns the payin and attempt ids.
    async fn pay(&self, number: &str) -> (String, String) {
        let a = self.live("POST", "/v3/payin", Some(one_call(number))).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.data()["status"], "requires_action", "a live confirm answers at once: {}", a.body);
        (a.id(), a.data()["latest_payment_attempt"].as_str().unwrap().to_string())
    }

    /// Waits until the attempt has its outcome; returns it.
    async fn outcome(&self, attempt: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let a = self.live("GET", &format!("/v3/payment_attempt/{attempt}"), None).await;
            if matches!(a.data()["status"].as_str(), Some("succeeded" | "failed")) {
                return a.data().clone();
            }
            assert!(Instant::now() < deadline, "no outcome within {secs} s: {}", a.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn entry(&self, attempt: &str) -> kasir_ovo_sim::Entry {
        let all = self.sim.entries();
        let mine: Vec<_> = all.into_iter().filter(|e| e.merchant_invoice == attempt).collect();
        assert_eq!(mine.len(), 1, "one push per attempt: {mine:?}");
        mine.into_iter().next().unwrap()
    }

    async fn wait_for_entry(&self, attempt: &str, pred: impl Fn(&kasir_ovo_sim::Entry) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.sim.entries().iter().any(|e| e.merchant_invoice == attempt && pred(e)) {
                return;
            }
            assert!(Instant::now() < deadline, "the simulator never saw it: {:?}", self.sim.entries());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self) -> String {
        self.app.http.get(format!("{}/metrics", self.app.base)).send().await.unwrap().text().await.unwrap()
    }
}

fn reason(attempt: &Value) -> &str {
    attempt["status_description"].as_str().unwrap().split(':').next().unwrap()
}

backend_tests! {
async fn each_answer_to_a_push_settles_the_attempt_as_ovo_says() {
    let rig = Rig::start(false).await;
    let cases = [
        ("81234567890", "succeeded", ""),
        ("81100000014", "failed", "not_registered"),
        ("81100000017", "failed", "declined"),
        ("81100000026", "failed", "push_not_delivered"),
        ("81100000013", "failed", "rejected"),
        ("81100000040", "failed", "rejected"),
        ("81100000054", "failed", "expired"),
        // Approved after a second: the call was open that long.
        ("81100001001", "succeeded", ""),
    ];
    let paid = futures::future::join_all(cases.iter().map(|(n, _, _)| rig.pay(n))).await;
    let mut references = HashSet::new();
    for ((number, status, why), (payin, attempt)) in cases.iter().zip(&paid) {
        let a = rig.outcome(attempt, 10).await;
        assert_eq!(a["status"], *status, "{number}: {a}");
        let entry = rig.entry(attempt);
        let ovo = &a["response"]["ovo_idr"];
        assert_eq!((ovo["batch_no"].as_u64(), ovo["reference_number"].as_u64()),
            (Some(u64::from(entry.batch_no)), Some(u64::from(entry.reference_number))), "{number}: {a}");
        assert!(references.insert((entry.batch_no, entry.reference_number)), "a reference used twice");
        assert_eq!(entry.amount, 50_000, "whole rupiah");
        assert_eq!(entry.phone, format!("0{number}"));
        let p = rig.live("GET", &format!("/v3/payin/{payin}"), None).await;
        if *status == "succeeded" {
            assert_eq!(entry.standing, Standing::Charged);
            assert_eq!(ovo["approval_code"], entry.approval_code.as_str());
            assert!(ovo["approved_at"].is_string(), "{a}");
            assert_eq!(p.data()["status"], "succeeded");
        } else {
            assert_eq!(reason(&a), *why, "{number}: {a}");
            assert_eq!(ovo["approval_code"], "");
            assert_eq!(entry.net_charges(), 0);
            assert_eq!(p.data()["status"], "requires_payment_method", "{number} may be confirmed again");
        }
    }
    // Every call is counted by message and code.
    let metrics = rig.metrics().await;
    assert!(metrics.contains(r#"kasir_ovo_calls_count{message="push",code="14"} 1"#), "{metrics}");
}

async fn a_push_without_a_final_answer_is_checked_until_its_window_closes_then_reversed() {
    let rig = Rig::start(false).await;
    // Never answered, pending, HTTP 500, a cut connection: each fails as expired once reversed, and no
    // money moves. Approved with its answer lost: a status check finds it, and nothing is reversed.
    let silent = ["81100000408", "81100000068", "81100000500", "81100000599"];
    let started = Instant::now();
    let paid = futures::future::join_all(silent.iter().chain(["81100000200"].iter()).map(|n| rig.pay(n))).await;
    for (number, (_, attempt)) in silent.iter().zip(&paid) {
        let a = rig.outcome(attempt, 15).await;
        assert_eq!((a["status"].as_str(), reason(&a)), (Some("failed"), "expired"), "{number}: {a}");
        assert!(started.elapsed() >= WINDOW - Duration::from_millis(200), "{number} failed before its window closed");
        let entry = rig.entry(attempt);
        assert_eq!(entry.standing, Standing::Reversed, "{number}: {entry:?}");
        assert_eq!(entry.reversals, 1, "{number}: reversed once");
    }
    let lost = rig.outcome(&paid[4].1, 10).await;
    assert_eq!(lost["status"], "succeeded", "{lost}");
    let entry = rig.entry(&paid[4].1);
    assert_eq!((entry.standing, entry.reversals), (Standing::Charged, 0));
    assert_eq!(lost["response"]["ovo_idr"]["approval_code"], entry.approval_code.as_str());
    let metrics = rig.metrics().await;
    assert!(metrics.contains(r#"kasir_ovo_calls_count{message="status",code="68"}"#), "status checks: {metrics}");
}

async fn a_reversal_that_fails_is_made_again_until_ovo_confirms_it() {
    let rig = Rig::start(false).await;
    rig.sim.fail_next(Message::Reversal, 2);
    let (_, attempt) = rig.pay("81100000068").await;
    let a = rig.outcome(&attempt, 20).await;
    assert_eq!((a["status"].as_str(), reason(&a)), (Some("failed"), "expired"), "{a}");
    let entry = rig.entry(&attempt);
    assert_eq!((entry.standing, entry.reversals), (Standing::Reversed, 1));
    let metrics = rig.metrics().await;
    assert!(metrics.contains(r#"kasir_ovo_calls_count{message="reversal",code="ER"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"kasir_ovo_calls_count{message="reversal",code="00"} 1"#), "{metrics}");
}

async fn a_cancel_during_a_push_reverses_it_first_unless_it_was_approved() {
    let rig = Rig::start(false).await;
    // The customer has not answered: the push is reversed, then the payin cancelled.
    let (payin, attempt) = rig.pay("81100000100").await;
    rig.wait_for_entry(&attempt, |e| e.standing == Standing::Waiting).await;
    let c = rig.live("POST", &format!("/v3/payin/{payin}/cancel"), None).await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.data()["status"], "cancelled");
    let a = rig.outcome(&attempt, 5).await;
    assert_eq!(reason(&a), "cancelled", "{a}");
    rig.wait_for_entry(&attempt, |e| e.standing == Standing::Reversed).await;
    assert_eq!(rig.entry(&attempt).net_charges(), 0);

    // The customer approved a moment before the cancel: the status check finds it, the payin is paid,
    // and the cancel is refused.
    let (payin, attempt) = rig.pay("81100000100").await;
    rig.wait_for_entry(&attempt, |e| e.standing == Standing::Waiting).await;
    let e = rig.entry(&attempt);
    let approve = format!("{}/control/{}/{}/approve", rig.sim_url.trim_end_matches("/pos"), e.batch_no, e.reference_number);
    assert_eq!(rig.app.http.post(approve).send().await.unwrap().status(), 204);
    let c = rig.live("POST", &format!("/v3/payin/{payin}/cancel"), None).await;
    assert_eq!(c.status, 409, "{}", c.body);
    let p = rig.live("GET", &format!("/v3/payin/{payin}"), None).await;
    assert_eq!(p.data()["status"], "succeeded", "{}", p.body);
    let entry = rig.entry(&attempt);
    assert_eq!((entry.standing, entry.reversals), (Standing::Charged, 0));
}

async fn an_approval_after_kasir_decided_to_reverse_is_undone_not_recorded() {
    // The customer's phone holds the push for 20 s; Kasir's window is 3 s, and OVO fails the first
    // reversals, so the customer approves after Kasir decided to reverse, before the reversal lands.
    let rig = Rig::start_holding(false, Duration::from_secs(20)).await;
    rig.sim.fail_next(Message::Reversal, 3);
    let (payin, attempt) = rig.pay("81100000100").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = rig.live("GET", &format!("/v3/payment_attempt/{attempt}"), None).await;
        if a.data()["response"]["ovo_idr"]["reversal_requested_at"].is_string() {
            assert_eq!(a.data()["status"], "requires_action", "failed only once reversed: {}", a.body);
            break;
        }
        assert!(Instant::now() < deadline, "no reversal was decided: {}", a.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = rig.entry(&attempt);
    let approve = format!("{}/control/{}/{}/approve", rig.sim_url.trim_end_matches("/pos"), e.batch_no, e.reference_number);
    assert_eq!(rig.app.http.post(approve).send().await.unwrap().status(), 204);
    assert_eq!(rig.entry(&attempt).standing, Standing::Charged);
    // The cancel's status check finds the approval, and does not record it as a payment.
    let c = rig.live("POST", &format!("/v3/payin/{payin}/cancel"), None).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = rig.outcome(&attempt, 5).await;
    assert_eq!(a["status"], "failed", "{a}");
    rig.wait_for_entry(&attempt, |e| e.standing == Standing::Reversed).await;
    assert_eq!(rig.entry(&attempt).net_charges(), 0);
}

async fn a_refund_is_a_void_on_the_day_of_the_payment_and_a_manual_transfer_after_it() {
    let rig = Rig::start(true).await;
    let (payin, attempt) = rig.pay("81234567890").await;
    assert_eq!(rig.outcome(&attempt, 10).await["status"], "succeeded");
    let r = rig.live("POST", "/v3/refund", Some(json!({"payin": payin, "reason": "customer request"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refund = r.id();
    rig.app.idle().await;
    let r = rig.live("GET", &format!("/v3/refund/{refund}"), None).await;
    assert_eq!(r.data()["status"], "succeeded", "voided the same day: {}", r.body);
    assert_eq!(rig.entry(&attempt).standing, Standing::Voided);

    // The void takes effect but its answer is lost: a void status check finds it, and nothing is voided
    // twice.
    let (payin, attempt) = rig.pay("81234567890").await;
    assert_eq!(rig.outcome(&attempt, 10).await["status"], "succeeded");
    rig.sim.lose_next(Message::Void, 1);
    let r = rig.live("POST", "/v3/refund", Some(json!({"payin": payin}))).await;
    let refund = r.id();
    rig.app.idle().await;
    rig.app.advance(Duration::from_secs(16)).await; // the void status check is due
    rig.app.idle().await;
    let r = rig.live("GET", &format!("/v3/refund/{refund}"), None).await;
    assert_eq!(r.data()["status"], "succeeded", "{}", r.body);
    let e = rig.entry(&attempt);
    assert_eq!((e.standing, e.voids), (Standing::Voided, 1));

    // Paid today, refunded tomorrow (WIB): OVO no longer voids it, and the refund waits for a person.
    let (payin, attempt) = rig.pay("81234567890").await;
    assert_eq!(rig.outcome(&attempt, 10).await["status"], "succeeded");
    rig.app.advance(Duration::from_secs(24 * 3600)).await;
    let r = rig.live("POST", "/v3/refund", Some(json!({"payin": payin}))).await;
    let refund = r.id();
    rig.app.idle().await;
    let r = rig.live("GET", &format!("/v3/refund/{refund}"), None).await;
    assert_eq!(r.data()["status"], "pending", "{}", r.body);
    let why = r.data()["status_description"].as_str().unwrap();
    assert!(why.starts_with("awaiting_manual_transfer: OVO voids a payment only on the day it was made"), "{why}");
    assert_eq!(rig.entry(&attempt).standing, Standing::Charged, "no void was sent after its day");

    // The operator's side: the command lists it, and records the transfer.
    let db = rig.app.database_url().to_string();
    let listed = crate::serve::kasir(&db, &["refunds", "manual"]);
    let text = crate::serve::text(&listed);
    assert!(listed.status.success() && text.contains(&refund) && text.contains("IDR 50000"), "{text}");
    let done = crate::serve::kasir(&db, &["refunds", "complete", &refund, "--reference", "BCA 0123-4567"]);
    assert!(done.status.success(), "{}", crate::serve::text(&done));
    let r = rig.live("GET", &format!("/v3/refund/{refund}"), None).await;
    assert_eq!(r.data()["status"], "succeeded");
    assert!(r.data()["status_description"].as_str().unwrap().contains("BCA 0123-4567"), "{}", r.body);
    let events = rig.live("GET", &format!("/v3/event?object_id={refund}"), None).await;
    let kinds: Vec<_> = events.data()["data"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, [json!("refund.succeeded"), json!("refund.pending")]);
    let told = events.data()["data"][0]["data"]["status_description"].as_str().unwrap();
    assert!(told.contains("BCA 0123-4567"), "the webhook carries the transfer's reference: {told}");
    // Finished once only, and nothing waits any more.
    let again = crate::serve::kasir(&db, &["refunds", "fail", &refund, "--reason", "account closed"]);
    assert!(!again.status.success(), "{}", crate::serve::text(&again));
    assert!(crate::serve::text(&again).contains("does not await a manual transfer"), "{}", crate::serve::text(&again));
    let listed = crate::serve::kasir(&db, &["refunds", "manual"]);
    assert!(crate::serve::text(&listed).contains("no refund waits for a manual transfer"));
}
}

/// Registers a new live key pair on `db`; returns its `Authorization`.
fn add_live_key(db: &str) -> String {
    let pair = kasir_app::keys::KeyPair::generate(kasir_domain::Mode::Live);
    let add =
        crate::serve::kasir(db, &["keys", "add", "--access-key", &pair.access_key, "--secret-key", &pair.secret_key]);
    assert!(add.status.success(), "{}", crate::serve::text(&add));
    crate::helpers::basic(&pair.access_key, &pair.secret_key)
}

async fn live_request(
    http: &reqwest::Client,
    addr: &str,
    auth: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(method, format!("http://{addr}{path}")).header("authorization", auth);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let mut v: Value = res.json().await.unwrap_or(Value::Null);
    v["http_status"] = json!(status);
    v
}

/// A simulator, a fresh database with a live key, and the `kasir serve` arguments that connect them.
struct LiveSetup {
    sim: Sim,
    db: crate::helpers::FreshDatabase,
    auth: String,
    args: Vec<String>,
    /// The app key's file, which `args` names.
    _key_file: tempfile::NamedTempFile,
}

impl LiveSetup {
    async fn new(window: &str) -> LiveSetup {
        let (sim, sim_url) = start_sim().await;
        let db = crate::helpers::fresh_database();
        let auth = add_live_key(&db.url);
        let mut key_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut key_file, APP_KEY.as_bytes()).unwrap();
        let path = key_file.path().to_str().unwrap();
        let args = [
            "--ovo-url",
            &sim_url,
            "--ovo-app-id",
            APP_ID,
            "--ovo-app-key-file",
            path,
            "--ovo-tid",
            "T001",
            "--ovo-mid",
            "M001",
            "--ovo-merchant-id",
            "110",
            "--ovo-store-code",
            "S01",
            "--ovo-timeout",
            "2s",
            "--ovo-status-interval",
            "300ms",
            "--approval-window",
            window,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        LiveSetup { sim, db, auth, args, _key_file: key_file }
    }

    /// Starts `kasir serve` on the database; returns the process and its address.
    fn spawn(&self) -> (std::process::Child, String) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        crate::serve::spawn_serve(&self.db.url, &args)
    }
}

fn one_call(number: &str) -> Value {
    let mut body = payin_body(5_000_000);
    body["confirm"] = json!(true);
    body.as_object_mut().unwrap().extend(confirm_body(number).as_object().unwrap().clone());
    body
}

backend_tests! {
async fn a_push_in_flight_when_kasir_is_killed_ends_with_exactly_one_outcome() {
    let setup = LiveSetup::new("15s").await;
    let (sim, auth) = (&setup.sim, setup.auth.as_str());
    let (mut first, addr) = setup.spawn();
    let http = reqwest::Client::new();
    // Approved three seconds after the push: the process dies while the call is open.
    let paid = live_request(&http, &addr, auth, "POST", "/v3/payin", Some(one_call("81100001003"))).await;
    assert_eq!(paid["http_status"], 200, "{paid}");
    let (payin, attempt) = (paid["data"]["id"].as_str().unwrap().to_string(), paid["data"]["latest_payment_attempt"].as_str().unwrap().to_string());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sim.entries().iter().any(|e| e.merchant_invoice == attempt) {
        assert!(Instant::now() < deadline, "the push never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();

    let (second, addr) = setup.spawn();
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        let p = live_request(&http, &addr, auth, "GET", &format!("/v3/payment_attempt/{attempt}"), None).await;
        if let Some(s @ ("succeeded" | "failed")) = p["data"]["status"].as_str() {
            break s.to_string();
        }
        assert!(Instant::now() < deadline, "no outcome after the restart: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pushes: Vec<_> = sim.entries().into_iter().filter(|e| e.merchant_invoice == attempt).collect();
    assert_eq!(pushes.len(), 1, "pushed once, not again after the restart: {pushes:?}");
    assert_eq!(pushes[0].net_charges(), u32::from(status == "succeeded"), "Kasir says {status}: {pushes:?}");
    let p = live_request(&http, &addr, auth, "GET", &format!("/v3/payin/{payin}"), None).await;
    let want = if status == "succeeded" { "succeeded" } else { "requires_payment_method" };
    assert_eq!(p["data"]["status"], want);
    crate::serve::sigterm(second).await;
}
}

/// A small deterministic generator (xorshift64*), so that a chaos run is the same run every time.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

backend_tests! {
async fn chaos_every_attempt_kasir_calls_succeeded_is_charged_once_and_no_other_is_charged() {
    const ATTEMPTS: usize = 240;
    let started = Instant::now();
    let mut rng = Seeded(0x006b_6173_6972);
    let setup = LiveSetup::new("4s").await;
    let (sim, auth) = (&setup.sim, setup.auth.as_str());
    let numbers = [
        "81234567890", "81234567891", "81100000014", "81100000017", "81100000026", "81100000054",
        "81100000408", "81100000068", "81100000500", "81100000599", "81100000200", "81100001001",
    ];
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let (mut process, mut addr) = setup.spawn();
    let mut sent = 0;
    while sent < ATTEMPTS {
        // A burst of confirms (some cancelled at once), OVO failing now and then, then a SIGKILL.
        for _ in 0..(20 + rng.below(40)) {
            let number = numbers[rng.below(numbers.len() as u64) as usize];
            let p = live_request(&http, &addr, auth, "POST", "/v3/payin", Some(one_call(number))).await;
            sent += 1;
            if rng.below(10) == 0 {
                if let Some(id) = p["data"]["id"].as_str() {
                    live_request(&http, &addr, auth, "POST", &format!("/v3/payin/{id}/cancel"), None).await;
                }
            }
            match rng.below(25) {
                0 => sim.fail_next(Message::Status, 2),
                1 => sim.fail_next(Message::Reversal, 2),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        process.kill().unwrap();
        process.wait().unwrap();
        (process, addr) = setup.spawn();
    }

    // Every payin Kasir made, however its confirm's answer fared, against the simulator's ledger.
    let deadline = Instant::now() + Duration::from_secs(45);
    let outcomes = loop {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let q = if after.is_empty() { String::new() } else { format!("&starting_after={after}") };
            let page = live_request(&http, &addr, auth, "GET", &format!("/v3/payin?limit=100{q}"), None).await;
            let data = page["data"]["data"].as_array().cloned().unwrap_or_default();
            all.extend(data.iter().cloned());
            match (page["data"]["has_more"].as_bool(), data.last()) {
                (Some(true), Some(last)) => after = last["id"].as_str().unwrap().to_string(),
                _ => break,
            }
        }
        let open = all.iter().filter(|p| p["status"] == "requires_action").count();
        if open == 0 {
            break all;
        }
        assert!(Instant::now() < deadline, "{open} payins still wait for an outcome");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ledger = sim.entries();
    let mut checked = 0;
    for p in &outcomes {
        let pat = p["latest_payment_attempt"].as_str().unwrap();
        if pat.is_empty() {
            continue;
        }
        let a = live_request(&http, &addr, auth, "GET", &format!("/v3/payment_attempt/{pat}"), None).await;
        let succeeded = a["data"]["status"] == "succeeded";
        let pushes: Vec<_> = ledger.iter().filter(|e| e.merchant_invoice == pat).collect();
        assert!(pushes.len() <= 1, "{pat} pushed twice: {pushes:?}");
        let charged = pushes.first().map_or(0, |e| e.net_charges());
        assert_eq!(charged, u32::from(succeeded), "{pat}: Kasir says {}, OVO {pushes:?}", a["data"]["status"]);
        checked += 1;
    }
    let known: HashSet<_> = outcomes.iter().filter_map(|p| p["latest_payment_attempt"].as_str()).collect();
    assert!(ledger.iter().all(|e| known.contains(e.merchant_invoice.as_str())), "a push for no attempt");
    let refs: HashSet<_> = ledger.iter().map(|e| (e.batch_no, e.reference_number)).collect();
    assert_eq!(refs.len(), ledger.len(), "a reference number used twice");
    assert!(checked > ATTEMPTS / 2, "only {checked} attempts were made");
    assert!(started.elapsed() < Duration::from_secs(90), "took {:?}", started.elapsed());
    crate::serve::sigterm(process).await;
}
}

#[test]
fn a_partial_ovo_configuration_stops_serve_at_start_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/k.db", dir.path().display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db, "--ovo-url", "http://127.0.0.1:9/pos"])
        .args(["--ovo-app-id", "toko"])
        .env_remove("KASIR_OVO_APP_KEY")
        .output()
        .unwrap();
    let text = crate::serve::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("the OVO connection is only partly configured"), "{text}");
    for missing in [
        "the app key (KASIR_OVO_APP_KEY or --ovo-app-key-file)",
        "--ovo-tid",
        "--ovo-mid",
        "--ovo-merchant-id",
        "--ovo-store-code",
    ] {
        assert!(text.contains(missing), "names {missing}: {text}");
    }
    assert!(!text.contains("--ovo-url (KASIR_OVO_URL)"), "does not name what was given: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_push_200_payins_with_no_reference_number_used_twice() {
    if !crate::helpers::postgres_enabled() {
        return;
    }
    crate::helpers::BACKEND
        .scope(crate::helpers::Backend::Postgres, async {
            use futures::stream::{self, StreamExt};
            const N: usize = 200;
            let setup = LiveSetup::new("30s").await;
            let (sim, auth) = (&setup.sim, setup.auth.as_str());
            let (a, addr_a) = setup.spawn();
            let (b, addr_b) = setup.spawn();
            let addrs = [addr_a, addr_b];
            let http = reqwest::Client::new();
            let attempts: Vec<String> = stream::iter(0..N)
                .map(|i| {
                    let (http, auth, addr) = (http.clone(), auth.to_string(), addrs[i % 2].clone());
                    async move {
                        let p =
                            live_request(&http, &addr, &auth, "POST", "/v3/payin", Some(one_call("81234567890"))).await;
                        assert_eq!(p["http_status"], 200, "{p}");
                        p["data"]["latest_payment_attempt"].as_str().unwrap().to_string()
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let charged = sim.entries().iter().filter(|e| e.standing == Standing::Charged).count();
                if charged >= N {
                    break;
                }
                assert!(Instant::now() < deadline, "{charged} of {N} charged");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let entries = sim.entries();
            assert_eq!(entries.len(), N, "one push per attempt");
            let refs: HashSet<_> = entries.iter().map(|e| (e.batch_no, e.reference_number)).collect();
            assert_eq!(refs.len(), N, "no reference number used twice");
            assert!(entries.iter().all(|e| e.code == "00"), "no 94 (duplicate): {entries:?}");
            let invoices: HashSet<_> = entries.iter().map(|e| e.merchant_invoice.clone()).collect();
            assert_eq!(invoices, attempts.iter().cloned().collect::<HashSet<_>>());
            // The simulator charged each; Kasir records each answer a moment later.
            let deadline = Instant::now() + Duration::from_secs(20);
            for (i, pat) in attempts.iter().enumerate() {
                loop {
                    let path = format!("/v3/payment_attempt/{pat}");
                    let got = live_request(&http, &addrs[i % 2], auth, "GET", &path, None).await;
                    if got["data"]["status"] == "succeeded" {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{got}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            crate::serve::sigterm(a).await;
            crate::serve::sigterm(b).await;
        })
        .await
}

backend_tests! {
async fn a_process_without_ovo_settings_leaves_live_calls_waiting_and_says_so() {
    let setup = LiveSetup::new("30s").await;
    let (mut first, addr) = setup.spawn();
    let http = reqwest::Client::new();
    // Pending at OVO: its status is checked every 300 ms, a call always due or soon due.
    let paid = live_request(&http, &addr, &setup.auth, "POST", "/v3/payin", Some(one_call("81100000068"))).await;
    let attempt = paid["data"]["latest_payment_attempt"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !setup.sim.entries().iter().any(|e| e.merchant_invoice == attempt) {
        assert!(Instant::now() < deadline, "the push never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // the next status check is due

    let mut plain = std::process::Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &setup.db.url])
        .env("KASIR_LOG", "info")
        .env_remove("KASIR_OVO_APP_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(plain.stderr.take().unwrap());
    let mut logged = String::new();
    loop {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "ended: {logged}");
        logged.push_str(&line);
        if line.contains("listening on http://") {
            break;
        }
    }
    assert!(logged.contains("live OVO calls") && logged.contains("no --ovo-* settings"), "{logged}");
    // The attempt waits, unsettled, for a process with the settings.
    let addr = logged.split("listening on http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let a = live_request(&http, &addr, &setup.auth, "GET", &format!("/v3/payment_attempt/{attempt}"), None).await;
    assert_eq!(a["data"]["status"], "requires_action", "{a}");
    let _ = plain.kill();
    let _ = plain.wait();
}
}
