//! Durable work: the outbox's webhook deliveries and the attempts' timers, as rows in `jobs`.
//!
//! Every state change schedules its work in the transaction that makes the change: the events it emits
//! get their delivery jobs, a new attempt gets its sandbox outcome and its expiry. Workers claim due jobs
//! with a lease; a worker that dies loses its lease and the job runs again.

use std::collections::BTreeMap;
use std::time::Duration;

use kasir_domain::sandbox::{self, Plan};
use kasir_domain::{
    new_webhook_secret, Delivery, Event, FailureReason, IdKind, Mode, Outcome, PaymentAttempt, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::ops::{load_payin, OpError};
use crate::{Scope, StoreError, Tx};

pub const ATTEMPT_TIMER: &str = "attempt_timer";
pub const DELIVER: &str = "deliver";

/// How long a rotated-out webhook secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum TimerOutcome {
    Succeed,
    Fail { reason: FailureReason },
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptTimer {
    account_id: String,
    mode: Mode,
    attempt_id: String,
    #[serde(flatten)]
    outcome: TimerOutcome,
}

#[derive(Debug, Serialize, Deserialize)]
struct DeliverJob {
    event_id: String,
    url: String,
}

fn schedule_timer(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt: &PaymentAttempt,
    outcome: TimerOutcome,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let payload = AttemptTimer {
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        attempt_id: attempt.id.clone(),
        outcome,
    };
    tx.insert_job(ATTEMPT_TIMER, &serde_json::to_string(&payload)?, at, now)
}

/// Schedules a new attempt's future: the sandbox's answer in test mode, and its expiry in every mode.
pub fn schedule_attempt(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt: &PaymentAttempt,
    sandbox_delay: Duration,
    now: Timestamp,
) -> Result<(), StoreError> {
    if scope.mode == Mode::Test {
        match sandbox::plan(attempt, sandbox_delay) {
            Plan::SucceedAt(at) => schedule_timer(tx, scope, attempt, TimerOutcome::Succeed, at, now)?,
            Plan::FailAt(at, reason) => schedule_timer(tx, scope, attempt, TimerOutcome::Fail { reason }, at, now)?,
            Plan::NoAnswer => {}
        }
    }
    let expire = TimerOutcome::Fail { reason: FailureReason::Expired };
    schedule_timer(tx, scope, attempt, expire, attempt.expires_at, now)
}

/// Records events and schedules their delivery to `url` (when set and the type is wanted).
pub fn emit(tx: &mut dyn Tx, scope: &Scope, events: &[Event], url: &str, now: Timestamp) -> Result<(), StoreError> {
    emit_to(tx, scope, events, url, now, None)
}

/// Deliveries a worker takes straight from the transaction that schedules them, instead of claiming
/// them in a later one: their jobs are written already leased to it, with everything the sends need.
/// A worker that dies before finishing them loses the lease, and another worker sends them.
pub struct Handoff {
    /// How long the worker holds each delivery it takes.
    pub lease: Duration,
    /// How many it takes at most (its free send slots); the rest are scheduled as usual.
    pub max: usize,
    pub tasks: Vec<DeliveryTask>,
    secrets: BTreeMap<String, Vec<String>>,
    /// Each account's event-type overrides, read once per transaction.
    wanted: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Handoff {
    pub fn new(lease: Duration, max: usize) -> Handoff {
        Handoff { lease, max, tasks: Vec::new(), secrets: BTreeMap::new(), wanted: BTreeMap::new() }
    }
}

/// Which event types an account wants sent: its overrides (each type's default applies otherwise).
fn wanted_types(tx: &mut dyn Tx, account_id: &str) -> Result<BTreeMap<String, bool>, StoreError> {
    Ok(tx.account(account_id)?.map(|a| a.event_types).unwrap_or_default())
}

/// [`wanted_types`], from the handoff's cache when there is one.
fn wanted(
    tx: &mut dyn Tx,
    account_id: &str,
    handoff: Option<&mut Handoff>,
) -> Result<BTreeMap<String, bool>, StoreError> {
    match handoff {
        Some(h) => cached(&mut h.wanted, account_id, || wanted_types(tx, account_id)),
        None => wanted_types(tx, account_id),
    }
}

fn emit_to(
    tx: &mut dyn Tx,
    scope: &Scope,
    events: &[Event],
    url: &str,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    tx.insert_events(scope, events)?;
    if url.is_empty() {
        return Ok(());
    }
    let overrides = wanted(tx, &scope.account_id, handoff.as_deref_mut())?;
    for e in events {
        if !overrides.get(e.kind.as_str()).copied().unwrap_or(e.kind.enabled_by_default()) {
            continue;
        }
        let Some(h) = handoff.as_deref_mut().filter(|h| h.tasks.len() < h.max) else {
            enqueue_delivery(tx, &e.id, url, now)?;
            continue;
        };
        let payload = delivery_payload(&e.id, url)?;
        let Some(job_id) = tx.insert_leased_job(DELIVER, &payload, now, now, now.plus(h.lease))? else {
            continue; // this backend scheduled it unleased: a claim picks it up
        };
        let secrets = cached(&mut h.secrets, &scope.account_id, || signing_secrets(tx, &scope.account_id, now))?;
        h.tasks.push(DeliveryTask::new(job_id, 1, scope.clone(), e, url.into(), serde_json::to_string(e)?, secrets));
    }
    Ok(())
}

/// `cache[key]`, loaded on first use.
fn cached<T: Clone>(
    cache: &mut BTreeMap<String, T>,
    key: &str,
    load: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if let Some(v) = cache.get(key) {
        return Ok(v.clone());
    }
    let v = load()?;
    cache.insert(key.to_string(), v.clone());
    Ok(v)
}

fn delivery_payload(event_id: &str, url: &str) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&DeliverJob { event_id: event_id.into(), url: url.into() })?)
}

pub fn enqueue_delivery(tx: &mut dyn Tx, event_id: &str, url: &str, now: Timestamp) -> Result<(), StoreError> {
    tx.insert_job(DELIVER, &delivery_payload(event_id, url)?, now, now)
}

/// Applies a wallet outcome to an attempt now. `Ok(None)` when the attempt already has its outcome.
pub fn settle_attempt(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt_id: &str,
    outcome: Outcome,
    now: Timestamp,
) -> Result<Option<PaymentAttempt>, OpError> {
    settle_attempt_to(tx, scope, attempt_id, outcome, now, None)
}

fn settle_attempt_to(
    tx: &mut dyn Tx,
    scope: &Scope,
    attempt_id: &str,
    outcome: Outcome,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<Option<PaymentAttempt>, OpError> {
    let (mut payin, mut attempt) = crate::ops::lock_attempt(tx, scope, attempt_id)?;
    let Some(events) = payin.settle(&mut attempt, outcome, now) else { return Ok(None) };
    tx.update_attempt(&attempt)?;
    tx.update_payin(&payin)?;
    emit_to(tx, scope, &events, &payin.webhook_url, now, handoff)?;
    Ok(Some(attempt))
}

/// Runs up to `limit` due timers (attempt outcomes and expiries, refund outcomes) in the caller's
/// transaction, which takes them off the job table: they are gone when it commits and back if it rolls
/// back. Returns how many ran. With a `handoff`, the deliveries they schedule are handed to the caller
/// (see [`Handoff`]).
pub fn run_due_timers_to(
    tx: &mut dyn Tx,
    now: Timestamp,
    limit: usize,
    mut handoff: Option<&mut Handoff>,
) -> Result<usize, StoreError> {
    let jobs = tx.take_due_jobs(TIMERS, now, limit)?;
    for job in &jobs {
        let before = tx.writes();
        let ran = if job.kind == REFUND_TIMER {
            run_refund_timer(tx, job, now, handoff.as_deref_mut())
        } else {
            run_attempt_timer(tx, job, now, handoff.as_deref_mut())
        };
        match ran {
            Ok(()) => {}
            // A stored object that does not decode (a row edited by hand, or written by a newer
            // version), found before the timer changed anything: the timer is put back for later and
            // the others in this transaction go on. Failing them all would fail them again on every
            // pass, behind the same timer.
            Err(e @ StoreError::Corrupt(_)) if tx.writes() == before => {
                tracing::error!(
                    job = job.id, kind = %job.kind, error = %e,
                    "a timer cannot be applied; it is put back to run again in an hour"
                );
                tx.insert_job(&job.kind, &job.payload, now.plus(PARKED_TIMER_DELAY), now)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(jobs.len())
}

/// When a timer that could not be applied runs again, and a delivery that could not be prepared.
pub const PARKED_TIMER_DELAY: Duration = Duration::from_secs(3600);

/// The job kinds that are timers (run inside one transaction) rather than deliveries.
pub const TIMERS: &[&str] = &[ATTEMPT_TIMER, REFUND_TIMER];

fn run_attempt_timer(
    tx: &mut dyn Tx,
    job: &crate::Job,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    let Some(t) = timer_payload::<AttemptTimer>(job, "attempt") else { return Ok(()) };
    let scope = Scope { account_id: t.account_id, mode: t.mode };
    // The account its events will name, read before the timer changes anything: one that does not
    // decode stops the timer before its first write (and it is put back), not after.
    wanted(tx, &scope.account_id, handoff.as_deref_mut())?;
    let outcome = match t.outcome {
        TimerOutcome::Succeed => Outcome::Succeeded,
        TimerOutcome::Fail { reason } => Outcome::Failed(reason),
    };
    timer_done(job, "attempt", settle_attempt_to(tx, &scope, &t.attempt_id, outcome, now, handoff))
}

/// A timer's payload, or `None` (logged) when it cannot be read: such a timer is dropped, since no
/// later try could read it either.
fn timer_payload<T: serde::de::DeserializeOwned>(job: &crate::Job, what: &str) -> Option<T> {
    match serde_json::from_str(&job.payload) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "unreadable {what} timer; dropping it");
            None
        }
    }
}

/// A timer's settling, as the timer's fate: a store error keeps it for another try; a domain error
/// (it names nothing settleable) drops it.
fn timer_done<T>(job: &crate::Job, what: &str, settled: Result<T, OpError>) -> Result<(), StoreError> {
    match settled {
        Ok(_) => Ok(()),
        Err(OpError::Store(e)) => Err(e),
        Err(OpError::Domain(e)) => {
            tracing::error!(job = job.id, error = %e, "{what} timer refers to nothing; dropping it");
            Ok(())
        }
    }
}

/// A delivery a worker is to make: everything it needs, so it touches no database while it waits.
#[derive(Debug, Clone)]
pub struct DeliveryTask {
    pub job_id: i64,
    pub tries: u32,
    pub scope: Scope,
    pub event_id: String,
    /// The event's `created_at` exactly as the body has it.
    pub created_at: String,
    pub url: String,
    /// The exact request body.
    pub body: String,
    /// Current secret first; during a rotation's overlap the previous one follows.
    pub secrets: Vec<String>,
}

impl DeliveryTask {
    fn new(
        job_id: i64,
        tries: u32,
        scope: Scope,
        event: &Event,
        url: String,
        body: String,
        secrets: Vec<String>,
    ) -> DeliveryTask {
        let (event_id, created_at) = (event.id.clone(), event.created_at.to_rfc3339());
        DeliveryTask { job_id, tries, scope, event_id, created_at, url, body, secrets }
    }
}

/// The account's signing secrets (current first), creating the secret on first use.
pub fn signing_secrets(tx: &mut dyn Tx, account_id: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let no_account = || StoreError::Corrupt(format!("no account {account_id}"));
    let mut acct = tx.account(account_id)?.ok_or_else(no_account)?;
    let current = match acct.webhook_secret.take() {
        Some(s) => s,
        None => {
            let s = new_webhook_secret();
            if tx.init_webhook_secret(account_id, &s)? {
                s
            } else {
                // Another transaction set it (and may have rotated it) since we read the account: sign
                // with what it stored.
                acct = tx.account(account_id)?.ok_or_else(no_account)?;
                let stored = acct.webhook_secret.take();
                stored.ok_or_else(|| StoreError::Corrupt(format!("account {account_id} has no webhook secret")))?
            }
        }
    };
    let mut secrets = vec![current];
    if let Some((prev, until)) = acct.previous_webhook_secret {
        if until > now {
            secrets.push(prev);
        }
    }
    Ok(secrets)
}

/// Replaces the signing secret; the old one keeps signing beside it for [`SECRET_OVERLAP`].
pub fn rotate_secret(tx: &mut dyn Tx, account_id: &str, now: Timestamp) -> Result<String, StoreError> {
    let old = signing_secrets(tx, account_id, now)?.remove(0);
    let new = new_webhook_secret();
    tx.set_webhook_secret(account_id, &new, Some((&old, now.plus(SECRET_OVERLAP))))?;
    Ok(new)
}

/// Turns an event type on or off for an account.
pub fn set_event_type(tx: &mut dyn Tx, account_id: &str, kind: &str, on: bool) -> Result<(), StoreError> {
    let mut types: BTreeMap<String, bool> = tx.account(account_id)?.map(|a| a.event_types).unwrap_or_default();
    types.insert(kind.to_string(), on);
    tx.set_event_types(account_id, &types)
}

/// Leases up to `limit` due deliveries for `lease`.
pub fn claim_deliveries(
    tx: &mut dyn Tx,
    now: Timestamp,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DeliveryTask>, StoreError> {
    let jobs = tx.claim_jobs(&[DELIVER], now, limit, lease)?;
    let mut tasks = Vec::with_capacity(jobs.len());
    let mut secrets_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in jobs {
        let Ok(d) = serde_json::from_str::<DeliverJob>(&job.payload) else {
            tracing::error!(job = job.id, "unreadable delivery job; dropping it");
            tx.delete_job(job.id)?;
            continue;
        };
        // A stored event or account that does not decode puts this delivery back for later, rather
        // than failing the claim, and every delivery behind it, on every pass.
        let prepared = tx.event_raw(&d.event_id).and_then(|found| {
            let Some((scope, event, body)) = found else { return Ok(None) };
            let secrets = cached(&mut secrets_of, &scope.account_id, || signing_secrets(tx, &scope.account_id, now))?;
            Ok(Some((scope, event, body, secrets)))
        });
        let (scope, event, body, secrets) = match prepared {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::error!(job = job.id, event = d.event_id, "delivery of a missing event; dropping it");
                tx.delete_job(job.id)?;
                continue;
            }
            Err(e @ StoreError::Corrupt(_)) => {
                park_delivery(tx, &job, now, &e)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        tasks.push(DeliveryTask::new(job.id, job.tries, scope, &event, d.url, body, secrets));
    }
    Ok(tasks)
}

fn park_delivery(tx: &mut dyn Tx, job: &crate::Job, now: Timestamp, e: &StoreError) -> Result<(), StoreError> {
    tracing::error!(job = job.id, error = %e, "a delivery cannot be prepared; it is put back to try again in an hour");
    tx.park_job(job.id, now.plus(PARKED_TIMER_DELAY))
}

/// What one try of a delivery came to.
#[derive(Debug, Clone)]
pub struct TryResult {
    pub attempted_at: Timestamp,
    pub http_status: Option<u16>,
    pub latency: Duration,
    pub error: String,
    pub retry_after: Option<Duration>,
}

impl TryResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_empty() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records a try and either finishes the job or schedules the next try (`jitter` in [-1, 1]).
pub fn finish_delivery(
    tx: &mut dyn Tx,
    task: &DeliveryTask,
    result: &TryResult,
    jitter: f64,
) -> Result<Delivery, StoreError> {
    let ok = result.succeeded();
    let next = if ok { None } else { kasir_domain::event::retry_delay(task.tries, result.retry_after, jitter) };
    let next_at = next.map(|d| result.attempted_at.plus(d));
    let delivery = Delivery {
        id: IdKind::Delivery.generate(),
        object: "webhook_delivery".into(),
        event: task.event_id.clone(),
        url: task.url.clone(),
        attempt: task.tries,
        attempted_at: result.attempted_at,
        http_status: result.http_status,
        latency_ms: result.latency.as_millis() as u64,
        error: result.error.clone(),
        succeeded: ok,
        next_attempt_at: next_at,
    };
    tx.insert_delivery(&task.scope, &delivery)?;
    match next_at {
        Some(at) => tx.reschedule_job(task.job_id, at)?,
        None => tx.delete_job(task.job_id)?,
    }
    Ok(delivery)
}

pub const REFUND_TIMER: &str = "refund_timer";

#[derive(Debug, Serialize, Deserialize)]
struct RefundTimer {
    account_id: String,
    mode: Mode,
    refund_id: String,
    /// `None` for success, else why it fails.
    failure: Option<kasir_domain::RefundFailure>,
}

/// Schedules the sandbox's answer to a test-mode refund. (Live refunds wait for a live connector.)
pub fn schedule_refund(
    tx: &mut dyn Tx,
    scope: &Scope,
    refund: &kasir_domain::Refund,
    attempt: &PaymentAttempt,
    sandbox_delay: Duration,
    now: Timestamp,
) -> Result<(), StoreError> {
    if scope.mode != Mode::Test {
        return Ok(());
    }
    let payload = RefundTimer {
        account_id: scope.account_id.clone(),
        mode: scope.mode,
        refund_id: refund.id.clone(),
        failure: sandbox::refund_outcome(attempt).err(),
    };
    tx.insert_job(REFUND_TIMER, &serde_json::to_string(&payload)?, refund.created_at.plus(sandbox_delay), now)
}

/// Applies the wallet's answer to a refund now. `Ok(None)` when the refund already has one.
pub fn settle_refund(
    tx: &mut dyn Tx,
    scope: &Scope,
    refund_id: &str,
    outcome: Result<(), kasir_domain::RefundFailure>,
    now: Timestamp,
) -> Result<Option<kasir_domain::Refund>, OpError> {
    settle_refund_to(tx, scope, refund_id, outcome, now, None)
}

fn settle_refund_to(
    tx: &mut dyn Tx,
    scope: &Scope,
    refund_id: &str,
    outcome: Result<(), kasir_domain::RefundFailure>,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<Option<kasir_domain::Refund>, OpError> {
    let not_found = || OpError::Domain(kasir_domain::DomainError::not_found("refund", refund_id, "id"));
    // Lock the payin first, then read the refund and attempt as they are under that lock.
    let payin_id = tx.refund(scope, refund_id)?.ok_or_else(not_found)?.payin;
    let payin = load_payin(tx, scope, &payin_id)?;
    let mut refund = tx.refund(scope, refund_id)?.ok_or_else(not_found)?;
    let mut attempt = crate::ops::load_attempt(tx, scope, &refund.payment_attempt)?;
    let Some(events) = refund.settle(&mut attempt, outcome, now) else { return Ok(None) };
    tx.update_refund(&refund)?;
    tx.update_attempt(&attempt)?;
    let url = if refund.webhook_url.is_empty() { payin.webhook_url } else { refund.webhook_url.clone() };
    emit_to(tx, scope, &events, &url, now, handoff)?;
    Ok(Some(refund))
}

fn run_refund_timer(
    tx: &mut dyn Tx,
    job: &crate::Job,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    let Some(t) = timer_payload::<RefundTimer>(job, "refund") else { return Ok(()) };
    let scope = Scope { account_id: t.account_id, mode: t.mode };
    // The account its events will name, read before the timer changes anything: one that does not
    // decode stops the timer before its first write (and it is put back), not after.
    wanted(tx, &scope.account_id, handoff.as_deref_mut())?;
    let outcome = match t.failure {
        None => Ok(()),
        Some(f) => Err(f),
    };
    timer_done(job, "refund", settle_refund_to(tx, &scope, &t.refund_id, outcome, now, handoff))
}
