//! The outbox: every event a state change emits is recorded in that change's transaction, with a
//! delivery job for each webhook it is sent to. Workers claim due deliveries with a lease; a worker that
//! dies loses its lease and the delivery is made again (at least once, with the same event id).

use std::collections::BTreeMap;
use std::time::Duration;

use kasir_domain::{
    Delivery, DomainError, Event, EventSwitches, EventType, IdKind, Refund, Timestamp, TryResult, WebhookEndpoint,
};
use kasir_store::{Job, Scope, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::{accounts, attempts, payins, AppError};

pub const DELIVER: &str = "deliver";

#[derive(Debug, Serialize, Deserialize)]
struct DeliverJob {
    event_id: String,
    url: String,
}

/// How long a due delivery waits when its receiver already has all the deliveries in flight it may
/// have; it is put back untried, and others go out meanwhile.
pub const FULL_RECEIVER_WAIT: Duration = Duration::from_secs(1);

/// The receiver a delivery goes to, for fairness between receivers: the URL's scheme and authority
/// (`https://shop.example:8443`), in lower case.
pub fn receiver(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
    url[..end].to_ascii_lowercase()
}

/// Whether a delivery to this receiver may be taken now; counts it when it may. A worker's bound on
/// each receiver's deliveries in flight, so one receiver that hangs cannot hold every send slot.
pub type Room = Box<dyn FnMut(&str) -> bool + Send>;

/// Deliveries a worker takes straight from the transaction that schedules them, instead of claiming
/// them in a later one: their jobs are written already leased to it, with everything the sends need.
/// A worker that dies before finishing them loses the lease, and another worker sends them.
pub struct Handoff {
    /// How long the worker holds each delivery it takes.
    pub lease: Duration,
    /// How many it takes at most (its free send slots); the rest are scheduled as usual.
    pub max: usize,
    pub tasks: Vec<DeliveryTask>,
    /// Which receivers have room; a delivery to one that has none is scheduled as usual.
    room: Room,
    secrets: BTreeMap<String, Vec<String>>,
    /// Each scope's delivery rules, read once per transaction.
    rules: BTreeMap<String, Rules>,
}

impl Handoff {
    pub fn new(lease: Duration, max: usize, room: Room) -> Handoff {
        Handoff { lease, max, tasks: Vec::new(), room, secrets: BTreeMap::new(), rules: BTreeMap::new() }
    }
}

/// Where a scope's events go: the account's event-type switches and the scope's webhook endpoints.
pub(crate) type Rules = (EventSwitches, Vec<WebhookEndpoint>);

/// The scope's delivery rules, read in one query, from the handoff's cache when there is one.
pub(crate) fn rules(tx: &mut dyn Tx, scope: &Scope, handoff: Option<&mut Handoff>) -> Result<Rules, StoreError> {
    match handoff {
        Some(h) => {
            let key = format!("{}/{}", scope.account_id, scope.mode.as_str());
            cached(&mut h.rules, &key, || tx.delivery_rules(scope))
        }
        None => tx.delivery_rules(scope),
    }
}

/// Where an event goes: its object's `url` (when set), then each enabled endpoint whose filter takes
/// it; a URL once only.
fn targets<'a>(url: &'a str, endpoints: &'a [WebhookEndpoint], kind: EventType) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(1 + endpoints.len());
    if !url.is_empty() {
        out.push(url);
    }
    for e in endpoints.iter().filter(|e| e.takes(kind)) {
        if !out.contains(&e.url.as_str()) {
            out.push(&e.url);
        }
    }
    out
}

/// Records events and schedules their delivery (when the account sends their type) to `url` (when
/// set) and to the scope's webhook endpoints whose filters take them.
pub fn emit(
    tx: &mut dyn Tx,
    scope: &Scope,
    events: &[Event],
    url: &str,
    now: Timestamp,
    mut handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    tx.insert_events(scope, events)?;
    let (switches, endpoints) = rules(tx, scope, handoff.as_deref_mut())?;
    if url.is_empty() && endpoints.is_empty() {
        return Ok(());
    }
    for e in events.iter().filter(|e| switches.is_on(e.kind)) {
        for target in targets(url, &endpoints, e.kind) {
            deliver(tx, scope, e, target, now, handoff.as_deref_mut())?;
        }
    }
    Ok(())
}

/// Schedules one delivery of `e` to `url`: handed to the worker when it has room, else as a job.
fn deliver(
    tx: &mut dyn Tx,
    scope: &Scope,
    e: &Event,
    url: &str,
    now: Timestamp,
    handoff: Option<&mut Handoff>,
) -> Result<(), StoreError> {
    let taken = handoff.and_then(|h| (h.tasks.len() < h.max && (h.room)(&receiver(url))).then_some(h));
    let Some(h) = taken else {
        return enqueue_delivery(tx, &e.id, url, now);
    };
    let payload = delivery_payload(&e.id, url)?;
    let Some(job_id) = tx.insert_leased_job(DELIVER, &payload, now, now.plus(h.lease))? else {
        return Ok(()); // this backend scheduled it unleased: a claim picks it up
    };
    let secrets = cached(&mut h.secrets, &scope.account_id, || accounts::signing_secrets(tx, &scope.account_id, now))?;
    h.tasks.push(DeliveryTask::new(job_id, 1, scope.clone(), e, url.into(), serde_json::to_string(e)?, secrets));
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

/// The webhook URL an event goes to now: its object's, as the object is now (an attempt's is its
/// payin's; a refund's is its own or its payin's).
pub fn destination(tx: &mut dyn Tx, scope: &Scope, event: &Event) -> Result<String, AppError> {
    let id = event.object_id();
    let payin_id = match event.kind.object_kind() {
        IdKind::PaymentAttempt => attempts::load(tx, scope, &id)?.payin,
        IdKind::Refund => {
            let refund: Refund = tx.refund(scope, &id)?.ok_or_else(|| DomainError::not_found("refund", &id, "id"))?;
            let payin = payins::load(tx, scope, &refund.payin)?;
            return Ok(refund.webhook_target(&payin).to_string());
        }
        _ => id,
    };
    Ok(payins::load(tx, scope, &payin_id)?.webhook_url)
}

/// Queues an event for delivery again, to where it goes now: its object's current webhook URL and
/// the endpoints whose filters take it.
pub fn resend(tx: &mut dyn Tx, scope: &Scope, event_id: &str, now: Timestamp) -> Result<Event, AppError> {
    let event = tx.event(scope, event_id)?.ok_or_else(|| DomainError::not_found("event", event_id, "id"))?;
    let (switches, endpoints) = tx.delivery_rules(scope)?;
    if !switches.is_on(event.kind) {
        return Err(DomainError::invalid(kasir_domain::FieldError::new(
            kasir_domain::codes::INVALID_FIELD,
            format!("{} events are switched off for this account; switch the type on to send it", event.kind.as_str()),
            "type",
        ))
        .into());
    }
    let url = destination(tx, scope, &event)?;
    let to = targets(&url, &endpoints, event.kind);
    if to.is_empty() {
        return Err(DomainError::invalid(kasir_domain::FieldError::new(
            kasir_domain::codes::INVALID_FIELD,
            format!(
                "{} has no webhook_url to send to, and no webhook endpoint takes {}; set one, then resend",
                event.object_id(),
                event.kind.as_str()
            ),
            "webhook_url",
        ))
        .into());
    }
    for target in to {
        enqueue_delivery(tx, &event.id, target, now)?;
    }
    Ok(event)
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

/// Leases up to `limit` due deliveries for `lease`; one whose receiver has no `room` is put back for
/// [`FULL_RECEIVER_WAIT`], untried.
pub fn claim_deliveries(
    tx: &mut dyn Tx,
    now: Timestamp,
    limit: usize,
    lease: Duration,
    room: &mut dyn FnMut(&str) -> bool,
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
        if !room(&receiver(&d.url)) {
            tx.park_job(job.id, now.plus(FULL_RECEIVER_WAIT))?;
            continue;
        }
        // A stored event or account that does not decode puts this delivery back for later, rather
        // than failing the claim, and every delivery behind it, on every pass.
        let prepared = tx.event_raw(&d.event_id).and_then(|found| {
            let Some((scope, event, body)) = found else { return Ok(None) };
            let secrets =
                cached(&mut secrets_of, &scope.account_id, || accounts::signing_secrets(tx, &scope.account_id, now))?;
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

fn park_delivery(tx: &mut dyn Tx, job: &Job, now: Timestamp, e: &StoreError) -> Result<(), StoreError> {
    tracing::error!(job = job.id, error = %e, "a delivery cannot be prepared; it is put back to try again in an hour");
    tx.park_job(job.id, now.plus(crate::timers::PARKED_TIMER_DELAY))
}

/// Records a try and either finishes the job or schedules the next try (`jitter` in [-1, 1]).
pub fn finish_delivery(
    tx: &mut dyn Tx,
    task: &DeliveryTask,
    result: &TryResult,
    jitter: f64,
) -> Result<Delivery, StoreError> {
    let ok = result.succeeded();
    let next = if ok { None } else { kasir_domain::delivery::retry_delay(task.tries, result.retry_after, jitter) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_is_the_scheme_and_authority() {
        assert_eq!(receiver("https://Shop.Example:8443/hooks/kasir?x=1"), "https://shop.example:8443");
        assert_eq!(receiver("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(receiver("https://a.example?x"), "https://a.example");
    }
}
