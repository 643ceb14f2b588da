//! The workers inside `kasir serve`: they run due attempt timers and make due webhook deliveries.
//!
//! Nothing here holds time in memory: each pass asks the database what is due by the clock, so a
//! restarted process (or another process on the same database) carries on where this one stopped.

use std::sync::Arc;
use std::time::Duration;

use kasir_domain::Clock;
use kasir_store::jobs::{self, ATTEMPT_TIMER, DELIVER, REFUND_TIMER};
use kasir_store::jobs::{DeliveryTask, TryResult};
use kasir_store::{Store, StoreError};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::send::Sender;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a receiver has to answer.
    pub webhook_timeout: Duration,
    /// Deliveries in flight at once.
    pub webhook_concurrency: usize,
    /// How often to look for due work when nothing wakes the worker sooner.
    pub poll: Duration,
    /// Attempt timers applied per transaction.
    pub timer_batch: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 64,
            poll: Duration::from_millis(50),
            timer_batch: 500,
        }
    }
}

/// How long a woken worker waits for more wakes before it looks for due work.
const WAKE_COALESCE: Duration = Duration::from_millis(2);
/// Tries whose results wait to be recorded, at most; beyond it, senders wait for the recorder.
const UNRECORDED: usize = 4096;
/// Results recorded in one transaction at most.
const RECORD_BATCH: usize = 1024;
/// How long the recorder lets results gather after a write that was not full. Every commit rewrites
/// the pages it touches (the job queue's tail, the delivery log's tail), so a few large commits cost
/// far less than many small ones; the sends themselves never wait for this.
const RECORD_PAUSE: Duration = Duration::from_millis(20);

/// Where taken deliveries go: their send slots, and the recorder of their results.
struct Outbox {
    /// Sends in flight.
    sending: Arc<Semaphore>,
    /// Deliveries taken: in flight or waiting for a send slot.
    taken: Arc<Semaphore>,
    results: mpsc::Sender<Finished>,
    /// Woken when a send slot frees.
    wake: Arc<Notify>,
}

/// A finished try on its way to the database.
type Finished = (DeliveryTask, TryResult, f64);

/// Runs until `shutdown` turns true. `wake` lets writers say "new work is due now".
pub async fn run(
    store: Store,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let sender = Sender::new(config.webhook_timeout, config.webhook_concurrency, clock.clone());
    // Long enough for a try to time out and be recorded; a dead worker's deliveries wait this long.
    let lease = config.webhook_timeout + Duration::from_secs(5);
    let (results, finished) = mpsc::channel::<Finished>(UNRECORDED);
    let recorder = tokio::spawn(record(store.clone(), finished, wake.clone()));
    // Taking up to twice the send slots keeps every slot busy between passes.
    let slots = config.webhook_concurrency.max(1);
    let outbox = Outbox {
        sending: Arc::new(Semaphore::new(slots)),
        taken: Arc::new(Semaphore::new(2 * slots)),
        results,
        wake: wake.clone(),
    };
    while !*shutdown.borrow() {
        match pass(&store, &clock, &config, &sender, &outbox, lease).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "worker pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            _ = wake.notified() => {
                // Under load every write wakes the worker, mostly for nothing due yet (a sandbox outcome
                // a minute out): let a moment's wakes collapse into one look.
                tokio::time::sleep(WAKE_COALESCE).await;
            }
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // whoever could stop us is gone
                }
            }
        }
    }
    // Tries still in flight hold senders; results that arrive before the process ends are recorded,
    // and any that do not are sent again once their lease lapses.
    drop(outbox);
    let _ = tokio::time::timeout(Duration::from_secs(2), recorder).await;
}

/// Records finished tries, many per transaction: a try's outcome, and the job deleted or rescheduled.
async fn record(store: Store, mut finished: mpsc::Receiver<Finished>, wake: Arc<Notify>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let tries = std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH));
        let n = tries.len();
        let recorded = store
            .write(move |tx| {
                for (task, result, jitter) in &tries {
                    jobs::finish_delivery(tx, task, result, *jitter)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(e) = recorded {
            // The leases lapse and the deliveries are tried again: at least once, never lost.
            tracing::warn!(error = %e, tries = n, "could not record deliveries; they will be retried");
        }
        wake.notify_one();
        if n < RECORD_BATCH {
            tokio::time::sleep(RECORD_PAUSE).await;
        }
    }
}

/// One look at the job table. Returns whether it did anything (so the caller looks again at once).
async fn pass(
    store: &Store,
    clock: &Arc<dyn Clock>,
    config: &WorkerConfig,
    sender: &Sender,
    outbox: &Outbox,
    lease: Duration,
) -> Result<bool, StoreError> {
    let (permits, taken) = (&outbox.sending, &outbox.taken);
    let now = clock.now();
    if !store.read(move |tx| tx.has_due_job(&[ATTEMPT_TIMER, REFUND_TIMER, DELIVER], now)).await? {
        return Ok(false);
    }
    let batch = config.timer_batch;
    // The deliveries the timers schedule come straight back, leased to this worker, up to its free
    // send slots: no second transaction to claim them, and they go out as soon as the timers commit.
    // Two batches in flight, so the writer has the next one queued while it commits this one.
    let free = taken.available_permits();
    let timers_write = |max: usize| {
        store.write(move |tx| {
            let mut handoff = jobs::Handoff::new(lease, max);
            let n = jobs::run_due_timers_to(tx, now, batch, Some(&mut handoff))?;
            Ok::<_, StoreError>((n, handoff.tasks))
        })
    };
    let (first, second) = tokio::join!(timers_write(free / 2), timers_write(free - free / 2));
    let ((n1, mut tasks), (n2, more)) = (first?, second?);
    tasks.extend(more);
    let timers = n1 + n2;
    let free = free.saturating_sub(tasks.len());
    if free > 0 {
        tasks.extend(store.write(move |tx| jobs::claim_deliveries(tx, now, free, lease)).await?);
    }
    let claimed = tasks.len();
    for task in tasks {
        let held = taken.clone().try_acquire_owned().expect("no more taken than free");
        let (sender, permits) = (sender.clone(), permits.clone());
        let (results, wake) = (outbox.results.clone(), outbox.wake.clone());
        tokio::spawn(async move {
            let permit = permits.acquire_owned().await.expect("semaphore is never closed");
            let result = sender.send(&task).await;
            drop((permit, held));
            wake.notify_one(); // a slot is free: more due deliveries may be taken
            let jitter = rand::random::<f64>() * 2.0 - 1.0;
            // Waits only when the recorder is far behind; if the process ends first, the lease lapses
            // and the delivery is sent again.
            let _ = results.send((task, result, jitter)).await;
        });
    }
    Ok(timers > 0 || claimed > 0)
}
