//! Live OVO: the wallet that speaks OVO's host-to-host Push to Pay API ([`super::ovo`]) over HTTPS.
//!
//! Every request is a call job ([`super::calls`]): made outside any transaction, its answer applied as a
//! state change. The reconciliation OVO requires, as a chain of calls (docs/ovo.md):
//! - **Push.** Its reference number is taken, and recorded on the attempt, in the transaction that
//!   claims the job ([`LiveOvo::before_call`]), so a push never leaves without a record and no number is
//!   used twice. A push handed out a second time (its process died mid-call) is not sent again: its
//!   status is asked instead.
//! - **No final answer** (a timeout, 68, a 5xx, a cut connection, a crash): a status check every
//!   `status_interval` until the attempt's `expires_at`; approved settles as paid; otherwise a
//!   **reversal**, retried with backoff until OVO answers 00, 73 or 25, and the attempt fails as expired.
//! - **Refund**: a void on the WIB day the push was approved (void status checks when it gets no answer);
//!   after that day, or when OVO refuses the void, the refund waits for a manual transfer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kasir_domain::{
    AttemptResponse, Clock, FailureReason, Outcome, OvoResponse, PaymentAttempt, Phone, Refund, Timestamp,
    WIB_OFFSET_SECS,
};
use kasir_store::{StoreError, Tx};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::ovo::{self, Code, Message, Reference, Request, Response, Terminal, Transaction};
use super::ovo_http::Poster;
use super::{Answer, Call, CallOp, Plan, RefundOutcome, Wallet};

/// How Kasir reaches OVO (`kasir serve --ovo-*`).
#[derive(Clone)]
pub struct OvoConfig {
    /// The one URL every message goes to.
    pub url: String,
    pub app_id: String,
    /// The key the `hmac` header is made with.
    pub app_key: String,
    pub terminal: Terminal,
    /// How long one push call may take (OVO holds it until the customer answers, about 70 s).
    pub timeout: Duration,
    /// How often an unanswered push's status is asked (OVO recommends 15 s).
    pub status_interval: Duration,
}

impl std::fmt::Debug for OvoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvoConfig")
            .field("url", &self.url)
            .field("app_id", &self.app_id)
            .field("app_key", &"…")
            .field("timeout", &self.timeout)
            .field("status_interval", &self.status_interval)
            .finish()
    }
}

/// The longest wait before a failed reversal or void status check is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Every request but a push gets an answer at once, or within this long.
const SHORT_CALL: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    message: &'static str,
    code: String,
}

/// The live OVO wallet.
pub struct LiveOvo {
    config: OvoConfig,
    http: Poster,
    clock: Arc<dyn Clock>,
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
}

fn latency_buckets() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0])
}

/// What came back from one request.
enum Reply {
    /// OVO's JSON answer (whatever the HTTP status carrying it).
    Answered(Response),
    /// No answer that can be read: a timeout, a cut connection, a body that is not OVO's JSON.
    Lost(String),
}

impl LiveOvo {
    pub fn new(config: OvoConfig, clock: Arc<dyn Clock>) -> Result<LiveOvo, String> {
        let http = Poster::new(&config.url).map_err(|e| format!("--ovo-url: {e}"))?;
        let calls = Family::new_with_constructor(latency_buckets as fn() -> Histogram);
        Ok(LiveOvo { config, http, clock, calls })
    }

    /// The push an attempt made (or is about to make), as every message about it names it.
    fn transaction(attempt: &PaymentAttempt) -> Option<Transaction> {
        let r = &attempt.response.as_ref()?.ovo_idr;
        let phone = attempt.payment_method_details.phone()?.clone();
        Some(Transaction {
            reference: Reference { batch_no: r.batch_no, reference_number: r.reference_number },
            amount: attempt.amount / 100,
            phone,
            merchant_invoice: attempt.id.clone(),
        })
    }

    /// Sends one message and reads its answer, logging and counting it.
    async fn send(&self, message: Message, tx: &Transaction, timeout: Duration) -> Reply {
        let now = self.clock.now();
        let body = Request::new(message, &self.config.terminal, tx, now);
        let random = (now.as_micros() / 1_000_000).to_string();
        let hmac = ovo::signature(&self.config.app_id, &random, &self.config.app_key);
        let started = Instant::now();
        let json = serde_json::to_vec(&body).expect("a request serializes");
        let headers = [("app-id", self.config.app_id.as_str()), ("random", random.as_str()), ("hmac", hmac.as_str())];
        let reply = match tokio::time::timeout(timeout, self.http.post(&headers, &json)).await {
            Err(_) => Reply::Lost("timed out".into()),
            Ok(Err(why)) => Reply::Lost(why),
            Ok(Ok(answer)) => match serde_json::from_slice::<Response>(&answer.body) {
                Ok(r) if !r.response_code.is_empty() => Reply::Answered(r),
                _ => Reply::Lost(format!("HTTP {} without OVO's answer", answer.status)),
            },
        };
        let took = started.elapsed();
        let code = match &reply {
            Reply::Answered(r) => r.response_code.clone(),
            Reply::Lost(_) => "no_answer".to_string(),
        };
        self.calls
            .get_or_create(&CallLabels { message: message.name(), code: code.clone() })
            .observe(took.as_secs_f64());
        let why = match &reply {
            Reply::Lost(why) => why.as_str(),
            Reply::Answered(_) => "",
        };
        tracing::info!(
            message = message.name(),
            batch_no = tx.reference.batch_no,
            reference_number = tx.reference.reference_number,
            invoice = %tx.merchant_invoice,
            phone = %masked(&tx.phone),
            code = %code,
            latency_ms = took.as_millis() as u64,
            lost = why,
            "ovo call"
        );
        reply
    }

    /// A push's status, or what to do when it has no final answer yet.
    async fn status(&self, call: &Call, tx: &Transaction) -> Answer {
        match self.send(Message::Status, tx, SHORT_CALL.min(self.config.timeout)).await {
            Reply::Answered(r) => match r.code() {
                Code::AlreadyReversed => Answer::Settled(Outcome::Failed(FailureReason::Expired), None),
                code => match push_outcome(&code) {
                    Some(outcome) => Answer::Settled(outcome, Some(response(tx, &r, outcome, self.clock.now()))),
                    None => self.unanswered(call),
                },
            },
            Reply::Lost(_) => self.unanswered(call),
        }
    }

    /// A push without a final answer: its status again after `status_interval` while its approval window
    /// is open; a reversal once it has closed.
    fn unanswered(&self, call: &Call) -> Answer {
        let now = self.clock.now();
        let expires = call.attempt.expires_at;
        if now >= expires {
            return Answer::Again { op: CallOp::Reverse, at: now };
        }
        let next = now.plus(self.config.status_interval);
        Answer::Again { op: CallOp::Status, at: if next > expires { expires } else { next } }
    }

    async fn reverse(&self, call: &Call, tx: &Transaction) -> Answer {
        match self.send(Message::Reversal, tx, SHORT_CALL.min(self.config.timeout)).await {
            Reply::Answered(r) if matches!(r.code(), Code::Approved | Code::AlreadyReversed | Code::NotFound) => {
                Answer::Settled(Outcome::Failed(FailureReason::Expired), None)
            }
            _ => Answer::Again { op: CallOp::Reverse, at: self.clock.now().plus(backoff(call.round)) },
        }
    }

    async fn void(&self, call: &Call, tx: &Transaction) -> Answer {
        if let Some(why) = self.past_void_day(&call.attempt) {
            return Answer::Manual(why);
        }
        match self.send(Message::Void, tx, SHORT_CALL.min(self.config.timeout)).await {
            Reply::Answered(r) => match r.code() {
                // 73: voided already (an earlier try's answer was lost).
                Code::Approved | Code::AlreadyReversed => Answer::Refunded(Ok(())),
                Code::Pending | Code::System(_) | Code::HmacFailure | Code::Duplicate => self.void_unanswered(call),
                code => Answer::Manual(format!("OVO refused the void (code {})", code.as_str())),
            },
            Reply::Lost(_) => self.void_unanswered(call),
        }
    }

    fn void_unanswered(&self, call: &Call) -> Answer {
        let delay = self.config.status_interval.min(backoff(call.round));
        Answer::Again { op: CallOp::RefundStatus, at: self.clock.now().plus(delay) }
    }

    async fn void_status(&self, call: &Call, tx: &Transaction) -> Answer {
        match self.send(Message::VoidStatus, tx, SHORT_CALL.min(self.config.timeout)).await {
            Reply::Answered(r) => match r.code() {
                Code::Approved | Code::AlreadyReversed => Answer::Refunded(Ok(())),
                // The void never reached OVO: send it again while its day lasts.
                Code::NotFound => match self.past_void_day(&call.attempt) {
                    None => Answer::Again { op: CallOp::Refund, at: self.clock.now() },
                    Some(why) => Answer::Manual(why),
                },
                Code::Pending | Code::System(_) | Code::HmacFailure | Code::Duplicate => self.void_unanswered(call),
                code => Answer::Manual(format!("OVO refused the void (code {})", code.as_str())),
            },
            Reply::Lost(_) => self.void_unanswered(call),
        }
    }

    /// Why the attempt can no longer be voided, if it cannot: OVO voids a push on the WIB day it was
    /// approved only.
    fn past_void_day(&self, attempt: &PaymentAttempt) -> Option<String> {
        let Some(approved) = attempt.response.as_ref().and_then(|r| r.ovo_idr.approved_at) else {
            return Some("OVO's approval of this payment is not on record, so it cannot be voided".into());
        };
        let (paid, today) = (approved.civil(WIB_OFFSET_SECS), self.clock.now().civil(WIB_OFFSET_SECS));
        if (paid.year, paid.month, paid.day) == (today.year, today.month, today.day) {
            return None;
        }
        Some(format!(
            "OVO voids a payment only on the day it was made (WIB), and this one was paid on {:04}-{:02}-{:02}",
            paid.year, paid.month, paid.day
        ))
    }
}

impl Wallet for LiveOvo {
    fn plan_push(&self, _attempt: &PaymentAttempt) -> Plan<Outcome> {
        Plan::Call
    }

    fn plan_refund(&self, _refund: &Refund, _attempt: &PaymentAttempt) -> Plan<RefundOutcome> {
        Plan::Call
    }

    fn before_call(&self, tx: &mut dyn Tx, call: &mut Call) -> Result<bool, StoreError> {
        if call.op != CallOp::Push || call.attempt.response.is_some() {
            return Ok(true);
        }
        // Under the payin's lock: a cancel that committed since the job was read ends it here.
        let (_, mut attempt) = match crate::attempts::lock(tx, &call_scope(call), &call.attempt.id) {
            Ok(found) => found,
            Err(crate::AppError::Store(e)) => return Err(e),
            Err(crate::AppError::Domain(_)) => return Ok(false),
        };
        if attempt.status.is_final() {
            return Ok(false);
        }
        let reference = ovo::reserve(tx)?;
        attempt.response = Some(AttemptResponse {
            ovo_idr: OvoResponse {
                batch_no: reference.batch_no,
                reference_number: reference.reference_number,
                approval_code: String::new(),
                trace_number: String::new(),
                approved_at: None,
                reversal_requested_at: None,
            },
        });
        tx.update_attempt(&attempt)?;
        call.attempt = attempt;
        Ok(true)
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let Some(tx) = LiveOvo::transaction(&call.attempt) else {
                tracing::error!(attempt = call.attempt.id, op = ?call.op, "an OVO call for an attempt with no push on record");
                return match call.op {
                    CallOp::Refund | CallOp::RefundStatus => {
                        Answer::Manual("no OVO push is on record for this payment".into())
                    }
                    _ => Answer::Settled(Outcome::Failed(FailureReason::Expired), None),
                };
            };
            match call.op {
                // Handed out again: the first try may have reached OVO, so it is not sent twice.
                CallOp::Push if call.tries > 1 => self.status(call, &tx).await,
                CallOp::Refund if call.tries > 1 => self.void_status(call, &tx).await,
                CallOp::Push => match self.send(Message::Push, &tx, self.config.timeout).await {
                    Reply::Answered(r) => match push_outcome(&r.code()) {
                        Some(outcome) => Answer::Settled(outcome, Some(response(&tx, &r, outcome, self.clock.now()))),
                        None => self.unanswered(call),
                    },
                    Reply::Lost(_) => self.unanswered(call),
                },
                CallOp::Status => self.status(call, &tx).await,
                CallOp::Reverse => self.reverse(call, &tx).await,
                CallOp::Refund => self.void(call, &tx).await,
                CallOp::RefundStatus => self.void_status(call, &tx).await,
            }
        })
    }

    fn pushes_out_of_band(&self) -> bool {
        true
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "kasir_ovo_calls",
            "Requests to OVO by message and response code (no_answer: none could be read), and how long each took",
            self.calls.clone(),
        );
    }
}

fn call_scope(call: &Call) -> kasir_store::Scope {
    kasir_store::Scope { account_id: call.account_id.clone(), mode: call.mode }
}

/// A final outcome for a push's (or status check's) code; `None` when there is none yet.
fn push_outcome(code: &Code) -> Option<Outcome> {
    let failed = |r| Some(Outcome::Failed(r));
    match code {
        Code::Approved => Some(Outcome::Succeeded),
        Code::NotRegistered => failed(FailureReason::NotRegistered),
        Code::Declined => failed(FailureReason::Declined),
        Code::PushFailed => failed(FailureReason::PushNotDelivered),
        Code::Expired => failed(FailureReason::Expired),
        Code::InvalidAmount | Code::Failed | Code::NotAllowed => failed(FailureReason::Rejected),
        // 68 pending, 25 not (yet) found, 63/94/96 and system errors: nothing final is known.
        _ => None,
    }
}

/// The attempt's record of a push that got a final answer.
fn response(tx: &Transaction, r: &Response, outcome: Outcome, now: Timestamp) -> AttemptResponse {
    let approved = outcome == Outcome::Succeeded;
    AttemptResponse {
        ovo_idr: OvoResponse {
            batch_no: tx.reference.batch_no,
            reference_number: tx.reference.reference_number,
            approval_code: if approved { r.approval_code.clone() } else { String::new() },
            trace_number: if approved { r.trace_number.clone() } else { String::new() },
            approved_at: approved.then_some(now),
            reversal_requested_at: None,
        },
    }
}

/// 1 s, doubling with each repeat of the same request, at most [`MAX_BACKOFF`].
fn backoff(round: u32) -> Duration {
    Duration::from_secs(1u64 << round.min(10)).min(MAX_BACKOFF)
}

/// A phone number for logs: `0812****7890`.
fn masked(phone: &Phone) -> String {
    let local = ovo::local_phone(phone);
    let n = local.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    format!("{}{}{}", &local[..4], "*".repeat(n - 8), &local[n - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_in_logs() {
        let p = Phone { calling_code: "62".into(), number: "81234567890".into() };
        assert_eq!(masked(&p), "0812****7890");
    }

    #[test]
    fn backoff_doubles_to_ten_minutes() {
        let secs: Vec<u64> = [0, 1, 2, 3, 9, 10, 30].into_iter().map(|r| backoff(r).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 512, 600, 600]);
    }

    #[test]
    fn codes_map_to_the_reasons_the_sandbox_uses() {
        assert_eq!(push_outcome(&Code::parse("00")), Some(Outcome::Succeeded));
        assert_eq!(push_outcome(&Code::parse("14")), Some(Outcome::Failed(FailureReason::NotRegistered)));
        assert_eq!(push_outcome(&Code::parse("17")), Some(Outcome::Failed(FailureReason::Declined)));
        assert_eq!(push_outcome(&Code::parse("26")), Some(Outcome::Failed(FailureReason::PushNotDelivered)));
        assert_eq!(push_outcome(&Code::parse("54")), Some(Outcome::Failed(FailureReason::Expired)));
        for rejected in ["13", "40", "58"] {
            assert_eq!(push_outcome(&Code::parse(rejected)), Some(Outcome::Failed(FailureReason::Rejected)));
        }
        for unknown in ["68", "25", "63", "94", "96", "ER", "EB", "BR", "zz"] {
            assert_eq!(push_outcome(&Code::parse(unknown)), None, "{unknown}");
        }
    }
}
