//! The simulator over real HTTP on 127.0.0.1, as Kasir's live wallet will speak to it.

use std::sync::Arc;
use std::time::Duration;

use kasir_app::wallet::ovo::{self, Message, Reference, Request, Terminal, Transaction};
use kasir_domain::{Clock, ManualClock, Phone, SystemClock};
use serde_json::Value;

use super::*;

const APP_ID: &str = "kasir-test";
const APP_KEY: &str = "a4f6bf89b2a85781b7c1cab997b7ee0c89be03f7ac6ef29b63a45d07253cc401";

struct Running {
    base: String,
    sim: Sim,
    clock: ManualClock,
    http: reqwest::Client,
}

async fn start(timeout: Duration) -> Running {
    let clock = ManualClock::new(SystemClock.now());
    let sim =
        Sim::new(Config { app_id: APP_ID.into(), app_key: APP_KEY.into(), timeout, clock: Arc::new(clock.clone()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    Running { base, sim, clock, http }
}

fn tx(n: u32, phone: &str) -> Transaction {
    Transaction {
        reference: Reference { batch_no: 1, reference_number: n },
        amount: 150_000,
        phone: Phone { calling_code: "62".into(), number: phone.into() },
        merchant_invoice: format!("pat_{n:020}"),
    }
}

fn terminal() -> Terminal {
    Terminal { tid: "T1".into(), mid: "M1".into(), merchant_id: "110".into(), store_code: "S1".into() }
}

impl Running {
    /// A signed POST of `req`, as a client of OVO sends it.
    fn signed(&self, req: &Request, key: &str) -> reqwest::RequestBuilder {
        let random = "1700000000";
        self.http
            .post(format!("{}/pos", self.base))
            .header("app-id", APP_ID)
            .header("random", random)
            .header("hmac", ovo::signature(APP_ID, random, key))
            .json(req)
    }

    /// Sends `msg` about `t`, signed with `key`; the HTTP status and the answer, or the transport's error.
    async fn send_with(&self, msg: Message, t: &Transaction, key: &str) -> Result<(u16, Value), reqwest::Error> {
        let req = Request::new(msg, &terminal(), t, self.clock.now());
        let res = self.signed(&req, key).send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await?))
    }

    async fn send(&self, msg: Message, t: &Transaction) -> Result<(u16, Value), reqwest::Error> {
        self.send_with(msg, t, APP_KEY).await
    }

    async fn code(&self, msg: Message, t: &Transaction) -> String {
        let (_, v) = self.send(msg, t).await.expect("an answer");
        v["responseCode"].as_str().unwrap().to_string()
    }

    fn entry(&self, n: u32) -> Entry {
        self.sim.entries().into_iter().find(|e| e.reference_number == n).expect("in the ledger")
    }
}

#[tokio::test]
async fn a_wrong_signature_or_message_is_refused_and_nothing_is_recorded() {
    let s = start(Duration::from_secs(1)).await;
    let (status, v) = s.send_with(Message::Push, &tx(1, "81234567890"), "another key").await.unwrap();
    assert_eq!((status, v["responseCode"].as_str()), (401, Some("63")));
    let mut req = Request::new(Message::Push, &terminal(), &tx(2, "81234567890"), s.clock.now());
    req.processing_code = "999999".into();
    let res = s.signed(&req, APP_KEY).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["responseCode"], "96");
    assert!(s.sim.entries().is_empty());
}

#[tokio::test]
async fn an_approved_push_is_charged_once_and_its_numbers_are_never_taken_again() {
    let s = start(Duration::from_secs(1)).await;
    let (status, v) = s.send(Message::Push, &tx(1, "81234567890")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(v["type"], "0210");
    assert_eq!(v["responseCode"], "00");
    assert_eq!(v["referenceNumber"], 1, "a number, as OVO's sample writes it");
    let read: ovo::Response = serde_json::from_value(v.clone()).expect("Kasir reads the simulator's answer");
    assert_eq!((read.code(), read.reference_number.as_str()), (ovo::Code::Approved, "1"));
    assert_eq!(v["approvalCode"].as_str().unwrap().len(), 6);
    assert_eq!(s.entry(1).net_charges(), 1);
    // The same reference number, or the same invoice under another number: 94, and no second charge.
    assert_eq!(s.code(Message::Push, &tx(1, "81234567890")).await, "94");
    let mut again = tx(2, "81234567890");
    again.merchant_invoice = tx(1, "").merchant_invoice;
    assert_eq!(s.code(Message::Push, &again).await, "94");
    assert_eq!(s.sim.entries().len(), 1);
    assert_eq!(s.code(Message::Status, &tx(1, "81234567890")).await, "00");
}

#[tokio::test]
async fn refusals_answer_their_codes_and_a_status_check_agrees() {
    let s = start(Duration::from_secs(1)).await;
    for (n, phone, code) in [(1, "81100000014", "14"), (2, "81100000017", "17"), (3, "81100000026", "26")] {
        assert_eq!(s.code(Message::Push, &tx(n, phone)).await, code, "{phone}");
        assert_eq!(s.entry(n).standing, Standing::Refused);
        assert_eq!(s.entry(n).net_charges(), 0);
        assert_eq!(s.code(Message::Status, &tx(n, phone)).await, code, "a status check gives the refusal");
    }
    // About a push, but not the one under that reference (another invoice or amount): nothing.
    let mut other = tx(1, "81100000014");
    other.merchant_invoice = "pat_another".into();
    assert_eq!(s.code(Message::Status, &other).await, "25");
    assert_eq!(s.code(Message::Status, &tx(9, "81234567890")).await, "25", "never pushed");
    assert_eq!(s.code(Message::PhoneInquiry, &tx(10, "81100000014")).await, "14");
}

#[tokio::test]
async fn a_lost_answer_is_found_by_a_status_check_and_a_cut_push_charged_nothing() {
    let s = start(Duration::from_secs(1)).await;
    assert!(s.send(Message::Push, &tx(1, "81100000200")).await.is_err(), "the answer is lost");
    assert_eq!(s.code(Message::Status, &tx(1, "81100000200")).await, "00");
    assert_eq!(s.entry(1).net_charges(), 1);
    assert!(s.send(Message::Push, &tx(2, "81100000599")).await.is_err(), "the connection is cut");
    assert_eq!(s.code(Message::Status, &tx(2, "81100000599")).await, "25");
    let (status, v) = s.send(Message::Push, &tx(3, "81100000500")).await.unwrap();
    assert_eq!((status, v["responseCode"].as_str()), (500, Some("ER")));
    assert_eq!(s.entry(3).net_charges(), 0);
}

#[tokio::test]
async fn an_unanswered_push_is_reversed_once() {
    let s = start(Duration::from_millis(300)).await;
    assert!(s.send(Message::Push, &tx(1, "81100000408")).await.is_err(), "no answer within the timeout");
    assert_eq!(s.code(Message::Status, &tx(1, "81100000408")).await, "68");
    assert_eq!(s.code(Message::Reversal, &tx(1, "81100000408")).await, "00");
    assert_eq!(s.code(Message::Reversal, &tx(1, "81100000408")).await, "73", "already reversed");
    let e = s.entry(1);
    assert_eq!((e.standing, e.reversals, e.net_charges()), (Standing::Reversed, 1, 0));
    assert_eq!(s.code(Message::Push, &tx(2, "81100000068")).await, "68");
}

#[tokio::test]
async fn a_waiting_push_is_approved_by_hand() {
    let s = start(Duration::from_secs(5)).await;
    let sim = s.sim.clone();
    let base = s.base.clone();
    let approve = tokio::spawn(async move {
        loop {
            if sim.entries().iter().any(|e| e.reference_number == 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        reqwest::Client::new().post(format!("{base}/control/1/1/approve")).send().await.unwrap().status()
    });
    assert_eq!(s.code(Message::Push, &tx(1, "81100000100")).await, "00");
    assert_eq!(approve.await.unwrap(), 204);
    assert_eq!(s.entry(1).net_charges(), 1);
    let gone = s.http.post(format!("{}/control/1/1/decline", s.base)).send().await.unwrap();
    assert_eq!(gone.status(), 404, "nothing waits any more");
}

#[tokio::test]
async fn a_paid_push_is_voided_the_same_wib_day_only() {
    let s = start(Duration::from_secs(1)).await;
    assert_eq!(s.code(Message::Push, &tx(1, "81234567890")).await, "00");
    assert_eq!(s.code(Message::Void, &tx(1, "81234567890")).await, "00");
    assert_eq!(s.code(Message::VoidStatus, &tx(1, "81234567890")).await, "00");
    assert_eq!(s.entry(1).net_charges(), 0);
    assert_eq!(s.code(Message::Push, &tx(2, "81234567890")).await, "00");
    s.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(s.code(Message::Void, &tx(2, "81234567890")).await, "58", "not the day it was paid");
    assert_eq!(s.entry(2).net_charges(), 1);
    let ledger: Vec<Value> = s.http.get(format!("{}/ledger", s.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[0]["standing"], "voided");
}

#[test]
fn numbers_choose_their_behaviour() {
    assert_eq!(behaviour("81234567890"), Behaviour::Approve);
    assert_eq!(behaviour("81100001005"), Behaviour::ApproveAfter(Duration::from_secs(5)));
    assert_eq!(behaviour("81100000017"), Behaviour::Refuse("17"));
    for (n, _, _) in TABLE {
        assert!(Phone::parse("62", n, kasir_domain::Mode::Live).is_ok(), "{n} is a mobile number");
    }
}

#[tokio::test]
async fn a_push_reversed_while_the_customer_decides_is_never_charged() {
    let s = start(Duration::from_secs(1)).await;
    let push = {
        let req = Request::new(Message::Push, &terminal(), &tx(1, "81100001001"), s.clock.now());
        let sent = s.signed(&req, APP_KEY);
        tokio::spawn(async move { sent.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    while s.sim.entries().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.code(Message::Reversal, &tx(1, "81100001001")).await, "00");
    let answered = push.await.unwrap();
    assert_eq!(answered["responseCode"], "40", "the approval came after the reversal: {answered}");
    let e = s.entry(1);
    assert_eq!((e.standing, e.net_charges(), e.code.as_str()), (Standing::Reversed, 0, "00"));
    assert_eq!(s.code(Message::Status, &tx(1, "81100001001")).await, "73");
}
