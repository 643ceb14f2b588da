//! `ovo-sim`: a server that speaks OVO's host-to-host Push to Pay protocol ([`kasir_app::wallet::ovo`]),
//! so Kasir's live wallet is tested end to end here, and a merchant can rehearse against it
//! (`kasir ovo-sim --listen ADDR`).
//!
//! Like OVO it takes every message on one URL (`POST /`, or any path), checks the `hmac` header (63 when
//! wrong), the fields (`BR` when malformed) and the numbering (94 when a push reuses a reference number or
//! a merchant invoice), and answers with the message's reply type. A push's outcome is decided by the
//! customer's number ([`TABLE`]); every push, reversal and void is kept in a ledger (`GET /ledger`), and a
//! push waiting for the customer can be approved or declined by hand
//! (`POST /control/{batch_no}/{reference_number}/approve` or `…/decline`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kasir_app::wallet::ovo::{self, Message, Reference, Request};
use kasir_domain::{Clock, Timestamp, WIB_OFFSET_SECS};
use serde::Serialize;
use tokio::sync::oneshot;

/// What the simulator does with a push to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Approved at once (00).
    Approve,
    /// Approved after this long.
    ApproveAfter(Duration),
    /// Refused with this code.
    Refuse(&'static str),
    /// No answer: the call is held past the caller's timeout, and the push stays unanswered.
    Silent,
    /// Answered 68 (pending) at once; the push stays unanswered.
    Pending,
    /// HTTP 500 with `ER`; nothing is charged.
    ServerError,
    /// The connection is cut before an answer; nothing is charged.
    Drop,
    /// Approved and charged, but the answer is lost (the connection is cut): a status check finds it.
    ApproveLoseAnswer,
    /// Waits for `POST /control/…/approve` or `…/decline`, or until the timeout (then as [`Behaviour::Silent`]).
    Manual,
}

/// The numbers with an outcome of their own (national form, as the sandbox's catalogue writes them);
/// any other number is approved at once. `811000010SS` is approved after `SS` seconds.
pub const TABLE: &[(&str, Behaviour, &str)] = &[
    ("81100000014", Behaviour::Refuse("14"), "not registered with OVO (14), as in the sandbox"),
    ("81100000026", Behaviour::Refuse("26"), "the push could not be delivered (26), as in the sandbox"),
    ("81100000017", Behaviour::Refuse("17"), "declined by the customer (17), as in the sandbox"),
    ("81100000408", Behaviour::Silent, "never answers, as in the sandbox: the call is held past its timeout"),
    ("81100000013", Behaviour::Refuse("13"), "invalid amount (13)"),
    ("81100000040", Behaviour::Refuse("40"), "failed (40)"),
    ("81100000054", Behaviour::Refuse("54"), "expired (54)"),
    ("81100000068", Behaviour::Pending, "pending (68) at once; the push stays unanswered"),
    ("81100000500", Behaviour::ServerError, "HTTP 500 with ER; nothing charged"),
    ("81100000599", Behaviour::Drop, "the connection is cut before any answer; nothing charged"),
    ("81100000200", Behaviour::ApproveLoseAnswer, "approved and charged, but the answer is lost"),
    ("81100000100", Behaviour::Manual, "waits for the control endpoint to approve or decline it"),
];

/// The behaviour for a push to `national` (`812…`).
pub fn behaviour(national: &str) -> Behaviour {
    if let Some((_, b, _)) = TABLE.iter().find(|(n, _, _)| *n == national) {
        return *b;
    }
    if let Some(secs) = national.strip_prefix("811000010").filter(|s| s.len() == 2).and_then(|s| s.parse().ok()) {
        return Behaviour::ApproveAfter(Duration::from_secs(secs));
    }
    Behaviour::Approve
}

/// How the simulator is set up.
#[derive(Clone)]
pub struct Config {
    pub app_id: String,
    pub app_key: String,
    /// How long a silent or manual push holds its call (OVO's is about 70 s).
    pub timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

/// Where a push stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Sent to the customer; no final answer.
    Waiting,
    /// The customer paid.
    Charged,
    /// Refused (see `code`).
    Refused,
    /// Undone by a reversal: nothing charged.
    Reversed,
    /// Given back by a void: nothing charged.
    Voided,
}

/// One push and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub batch_no: u32,
    pub reference_number: u32,
    pub merchant_invoice: String,
    pub phone: String,
    pub amount: i64,
    pub standing: Standing,
    /// The last response code given about it.
    pub code: String,
    pub approval_code: String,
    pub pushed_at: Timestamp,
    /// When it was charged: a void is allowed that day (WIB) only.
    pub paid_at: Option<Timestamp>,
    pub reversals: u32,
    pub voids: u32,
}

impl Entry {
    /// What the customer paid in the end: one charge, or none.
    pub fn net_charges(&self) -> u32 {
        u32::from(self.standing == Standing::Charged)
    }
}

#[derive(Default)]
struct Ledger {
    pushes: HashMap<Reference, Entry>,
    invoices: HashSet<String>,
    waiting: HashMap<Reference, oneshot::Sender<bool>>,
}

/// A running simulator's state.
#[derive(Clone)]
pub struct Sim {
    config: Arc<Config>,
    ledger: Arc<Mutex<Ledger>>,
    /// Messages (by name) still to fail, and how many of each.
    faults: Arc<Mutex<HashMap<String, u32>>>,
    /// Messages (by name) whose answers are still to be lost after they take effect, and how many.
    losses: Arc<Mutex<HashMap<String, u32>>>,
}

impl Sim {
    pub fn new(config: Config) -> Sim {
        Sim { config: Arc::new(config), ledger: Arc::default(), faults: Arc::default(), losses: Arc::default() }
    }

    /// The next `n` messages of this kind answer HTTP 500 with `ER` and change nothing (as
    /// `POST /control/faults/{message}/{n}` does).
    pub fn fail_next(&self, message: Message, n: u32) {
        self.faults.lock().expect("faults").insert(message.name().to_string(), n);
    }

    /// The next `n` messages of this kind take effect, and then their answers are lost (the connection
    /// is cut), as `POST /control/losses/{message}/{n}` does.
    pub fn lose_next(&self, message: Message, n: u32) {
        self.losses.lock().expect("losses").insert(message.name().to_string(), n);
    }

    /// Whether this message is to fail, counting it off if so.
    fn faulted(&self, message: Message) -> bool {
        count_off(&self.faults, message)
    }
}

/// Whether `counts` has one more of `message` to go, counting it off if so.
fn count_off(counts: &Mutex<HashMap<String, u32>>, message: Message) -> bool {
    let mut f = counts.lock().expect("counts");
    match f.get_mut(message.name()) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

impl Sim {
    /// The ledger, oldest push first.
    pub fn entries(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self.ledger.lock().expect("ledger").pushes.values().cloned().collect();
        all.sort_by_key(|e| (e.batch_no, e.reference_number));
        all
    }

    /// The simulator's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/ledger", get(ledger))
            .route("/control/{batch}/{reference}/{decision}", post(control))
            .route("/control/faults/{message}/{n}", post(count_control::<false>))
            .route("/control/losses/{message}/{n}", post(count_control::<true>))
            .fallback(message)
            .with_state(self.clone())
    }

    /// Gives a waiting push its outcome, and returns it; a push already undone meanwhile (a reversal
    /// while the customer was deciding) keeps that, and the push's caller hears it.
    fn settle(&self, r: Reference, standing: Standing, code: &str, now: Timestamp) -> Entry {
        let mut l = self.ledger.lock().expect("ledger");
        let e = l.pushes.get_mut(&r).expect("a recorded push");
        if e.standing != Standing::Waiting {
            return e.clone();
        }
        e.standing = standing;
        e.code = code.to_string();
        if standing == Standing::Charged {
            e.approval_code = format!("{:06}", rand::random::<u32>() % 1_000_000);
            e.paid_at = Some(now);
        }
        e.clone()
    }
}

/// An answer in OVO's form, with HTTP 200 unless `status` says otherwise.
fn answer(
    message: Option<Message>,
    req: Option<&Request>,
    code: &str,
    entry: Option<&Entry>,
    now: Timestamp,
) -> Json<serde_json::Value> {
    let c = now.civil(WIB_OFFSET_SECS);
    Json(serde_json::json!({
        "type": message.map_or("0210", Message::answer_type),
        "responseCode": code,
        "approvalCode": entry.map(|e| e.approval_code.clone()).unwrap_or_default(),
        "traceNumber": entry.map(|e| e.reference_number),
        "hostDate": format!("{:02}{:02}", c.month, c.day),
        "hostTime": format!("{:02}{:02}{:02}", c.hour, c.minute, c.second),
        "referenceNumber": req.and_then(|r| r.reference_number.parse::<u32>().ok()),
        "transactionResponseData": entry.filter(|e| e.standing == Standing::Charged).map(|e| serde_json::json!({
            "storeCode": req.map(|r| r.store_code.clone()).unwrap_or_default(),
            "cashUsed": e.amount.to_string(),
            "paymentType": "PUSH TO PAY",
        })).unwrap_or(serde_json::Value::Null),
    }))
}

/// A cut connection: the answer's first byte, then the body fails, and the server drops the connection
/// without finishing it.
fn cut() -> Response {
    let parts: [Result<&'static [u8], std::io::Error>; 2] =
        [Ok(b"{"), Err(std::io::Error::other("ovo-sim cuts the connection"))];
    let body = axum::body::Body::from_stream(futures::stream::iter(parts));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /control/faults/{message}/{n}`: the next `n` messages named `message` (`push`, `status`,
/// `reversal`, `void`, `void_status`) fail with HTTP 500 `ER`; `POST /control/losses/{message}/{n}`:
/// they take effect, and their answers are lost.
async fn count_control<const LOSE: bool>(
    State(sim): State<Sim>,
    Path((message, n)): Path<(String, u32)>,
) -> StatusCode {
    match Message::ALL.into_iter().find(|m| m.name() == message) {
        Some(m) if LOSE => sim.lose_next(m, n),
        Some(m) => sim.fail_next(m, n),
        None => return StatusCode::NOT_FOUND,
    }
    StatusCode::NO_CONTENT
}

async fn message(State(sim): State<Sim>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let now = sim.config.clock.now();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (app_id, random, hmac) = (header("app-id"), header("random"), header("hmac"));
    let req: Option<Request> = serde_json::from_slice(&body).ok();
    let msg = req.as_ref().and_then(Request::message);
    if app_id != sim.config.app_id
        || random.is_empty()
        || !ovo::signature_matches(&app_id, &random, &sim.config.app_key, &hmac)
    {
        return (StatusCode::UNAUTHORIZED, answer(msg, req.as_ref(), "63", None, now)).into_response();
    }
    let Some(req) = req else { return (StatusCode::BAD_REQUEST, answer(None, None, "BR", None, now)).into_response() };
    let Some(msg) = msg else {
        return (StatusCode::BAD_REQUEST, answer(None, Some(&req), "96", None, now)).into_response();
    };
    if sim.faulted(msg) {
        return (StatusCode::INTERNAL_SERVER_ERROR, answer(Some(msg), Some(&req), "ER", None, now)).into_response();
    }
    let phone = req.transaction_request_data.phone.clone();
    let national = phone.strip_prefix('0').filter(|n| n.starts_with('8') && n.bytes().all(|b| b.is_ascii_digit()));
    let Some(national) = national.map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, answer(Some(msg), Some(&req), "BR", None, now)).into_response();
    };
    if msg == Message::PhoneInquiry {
        let code = if behaviour(&national) == Behaviour::Refuse("14") { "14" } else { "00" };
        return answer(Some(msg), Some(&req), code, None, now).into_response();
    }
    let reference = req.reference();
    let invoice = req.transaction_request_data.merchant_invoice.clone();
    let (Some(reference), false, true) = (reference, invoice.is_empty(), req.amount > 0) else {
        return (StatusCode::BAD_REQUEST, answer(Some(msg), Some(&req), "BR", None, now)).into_response();
    };
    let answered = match msg {
        Message::Push => push(&sim, &req, reference, invoice, phone, &national, now).await,
        _ => about(&sim, msg, &req, reference, now),
    };
    if count_off(&sim.losses, msg) {
        return cut();
    }
    answered
}

async fn push(
    sim: &Sim,
    req: &Request,
    reference: Reference,
    invoice: String,
    phone: String,
    national: &str,
    now: Timestamp,
) -> Response {
    let msg = Some(Message::Push);
    let b = behaviour(national);
    let (tx, rx) = oneshot::channel();
    {
        let mut l = sim.ledger.lock().expect("ledger");
        if l.pushes.contains_key(&reference) || l.invoices.contains(&invoice) {
            return answer(msg, Some(req), "94", None, now).into_response();
        }
        l.invoices.insert(invoice.clone());
        let entry = Entry {
            batch_no: reference.batch_no,
            reference_number: reference.reference_number,
            merchant_invoice: invoice,
            phone,
            amount: req.amount,
            standing: Standing::Waiting,
            code: "68".into(),
            approval_code: String::new(),
            pushed_at: now,
            paid_at: None,
            reversals: 0,
            voids: 0,
        };
        l.pushes.insert(reference, entry);
        if b == Behaviour::Manual {
            l.waiting.insert(reference, tx);
        }
    }
    tracing::info!(batch = reference.batch_no, reference = reference.reference_number, ?b, "ovo-sim: push");
    // The outcome as recorded: what was decided, or the reversal that came first.
    let settled = |sim: &Sim, standing: Standing, code: &str| {
        let e = sim.settle(reference, standing, code, sim.config.clock.now());
        let code = match e.standing {
            Standing::Charged => "00",
            Standing::Refused => e.code.as_str(),
            // Reversed (or voided) while the customer was deciding: the push failed.
            Standing::Waiting | Standing::Reversed | Standing::Voided => "40",
        };
        answer(msg, Some(req), code, Some(&e), now).into_response()
    };
    let approved = |sim: &Sim| settled(sim, Standing::Charged, "00");
    match b {
        Behaviour::Approve => approved(sim),
        Behaviour::ApproveAfter(d) => {
            tokio::time::sleep(d).await;
            approved(sim)
        }
        Behaviour::Refuse(code) => settled(sim, Standing::Refused, code),
        Behaviour::Pending => answer(msg, Some(req), "68", None, now).into_response(),
        Behaviour::ServerError => {
            sim.settle(reference, Standing::Refused, "ER", now);
            (StatusCode::INTERNAL_SERVER_ERROR, answer(msg, Some(req), "ER", None, now)).into_response()
        }
        Behaviour::Drop => {
            sim.settle(reference, Standing::Refused, "ER", now);
            cut()
        }
        Behaviour::ApproveLoseAnswer => {
            sim.settle(reference, Standing::Charged, "00", now);
            cut()
        }
        Behaviour::Silent => {
            tokio::time::sleep(sim.config.timeout).await;
            cut()
        }
        Behaviour::Manual => match tokio::time::timeout(sim.config.timeout, rx).await {
            Ok(Ok(true)) => approved(sim),
            Ok(Ok(false)) => settled(sim, Standing::Refused, "17"),
            _ => {
                sim.ledger.lock().expect("ledger").waiting.remove(&reference);
                cut()
            }
        },
    }
}

/// Status, reversal, void and void status: about an earlier push, named by its reference.
fn about(sim: &Sim, msg: Message, req: &Request, reference: Reference, now: Timestamp) -> Response {
    let mut guard = sim.ledger.lock().expect("ledger");
    let l = &mut *guard;
    // The push it is about: its reference, and its invoice and amount too (another push's answer
    // would be worse than none).
    let same =
        |e: &Entry| e.merchant_invoice == req.transaction_request_data.merchant_invoice && e.amount == req.amount;
    let Some(e) = l.pushes.get_mut(&reference).filter(|e| same(e)) else {
        return answer(Some(msg), Some(req), "25", None, now).into_response();
    };
    let refusal = e.code.clone();
    let code = match (msg, e.standing) {
        (Message::Status, Standing::Charged) => "00",
        (Message::Status, Standing::Waiting) => "68",
        (Message::Status, Standing::Reversed | Standing::Voided) => "73",
        // Refused: its own code; one cut or answered with ER never reached the customer.
        (Message::Status, Standing::Refused) if refusal == "ER" => "25",
        (Message::Status, Standing::Refused) => refusal.as_str(),
        (Message::Reversal, Standing::Reversed) => "73",
        (Message::Reversal, Standing::Charged | Standing::Waiting | Standing::Refused) => {
            e.reversals += 1;
            e.standing = Standing::Reversed;
            l.waiting.remove(&reference);
            "00"
        }
        (Message::Void, Standing::Charged) if e.paid_at.is_some_and(|at| same_wib_day(at, now)) => {
            e.voids += 1;
            e.standing = Standing::Voided;
            "00"
        }
        (Message::Void, Standing::Charged) => "58",
        (Message::Void, Standing::Voided) => "73",
        (Message::Void, _) => "25",
        (Message::VoidStatus, Standing::Voided) => "00",
        (Message::VoidStatus, _) => "25",
        (Message::Reversal, Standing::Voided) => "58",
        (Message::Push | Message::PhoneInquiry, _) => "96",
    };
    let code = code.to_string();
    if msg != Message::Status && msg != Message::VoidStatus {
        e.code = code.clone();
    }
    let entry = e.clone();
    tracing::info!(
        batch = reference.batch_no,
        reference = reference.reference_number,
        message = msg.name(),
        code,
        "ovo-sim"
    );
    answer(Some(msg), Some(req), &code, Some(&entry), now).into_response()
}

fn same_wib_day(a: Timestamp, b: Timestamp) -> bool {
    let (a, b) = (a.civil(WIB_OFFSET_SECS), b.civil(WIB_OFFSET_SECS));
    (a.year, a.month, a.day) == (b.year, b.month, b.day)
}

async fn ledger(State(sim): State<Sim>) -> Json<Vec<Entry>> {
    Json(sim.entries())
}

async fn control(State(sim): State<Sim>, Path((batch, reference, decision)): Path<(u32, u32, String)>) -> Response {
    let approve = match decision.as_str() {
        "approve" => true,
        "decline" => false,
        _ => return (StatusCode::NOT_FOUND, "approve or decline").into_response(),
    };
    let r = Reference { batch_no: batch, reference_number: reference };
    let waiting = sim.ledger.lock().expect("ledger").waiting.remove(&r);
    let Some(waiting) = waiting else {
        return (StatusCode::NOT_FOUND, "no push is waiting under that reference").into_response();
    };
    // The decision is in the ledger before this answers, as OVO's is: a status check made next finds it.
    let (standing, code) = if approve { (Standing::Charged, "00") } else { (Standing::Refused, "17") };
    sim.settle(r, standing, code, sim.config.clock.now());
    let _ = waiting.send(approve);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests;
