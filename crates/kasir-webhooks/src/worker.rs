//! The workers inside `kasir serve`: they run due attempt timers and make due webhook deliveries.
//!
//! Nothing here holds time in memory: each pass asks the database what is due by the clock, so a
//! restarted process (or another process on the same database) carries on where this one stopped.

use std::sync::Arc;
use std::time::Duration;

use kasir_domain::Clock;
use kasir_store::jobs::{self, ATTEMPT_TIMER, DELIVER, REFUND_TIMER};
use kasir_store::{Store, StoreError};
use tokio::sync::{watch, Notify, Semaphore};

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

/// Runs until `shutdown` turns true. `wake` lets writers say "new work is due now".
pub async fn run(
    store: Store,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let sender = Sender::new(config.webhook_timeout, clock.clone());
    let permits = Arc::new(Semaphore::new(config.webhook_concurrency.max(1)));
    // Long enough for a try to time out and be recorded; a dead worker's deliveries wait this long.
    let lease = config.webhook_timeout + Duration::from_secs(5);
    while !*shutdown.borrow() {
        match pass(&store, &clock, &config, &sender, &permits, lease, &wake).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "worker pass failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            _ = wake.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // whoever could stop us is gone
                }
            }
        }
    }
}

/// One look at the job table. Returns whether it did anything (so the caller looks again at once).
async fn pass(
    store: &Store,
    clock: &Arc<dyn Clock>,
    config: &WorkerConfig,
    sender: &Sender,
    permits: &Arc<Semaphore>,
    lease: Duration,
    wake: &Arc<Notify>,
) -> Result<bool, StoreError> {
    let now = clock.now();
    if !store.read(move |tx| tx.has_due_job(&[ATTEMPT_TIMER, REFUND_TIMER, DELIVER], now)).await? {
        return Ok(false);
    }
    let batch = config.timer_batch;
    let timers = store.write(move |tx| jobs::run_due_timers(tx, now, batch)).await?;

    let free = permits.available_permits();
    let tasks =
        if free > 0 { store.write(move |tx| jobs::claim_deliveries(tx, now, free, lease)).await? } else { vec![] };
    let claimed = tasks.len();
    for task in tasks {
        let permit = permits.clone().acquire_owned().await.expect("semaphore is never closed");
        let (store, sender, wake) = (store.clone(), sender.clone(), wake.clone());
        tokio::spawn(async move {
            let result = sender.send(&task).await;
            let jitter = rand::random::<f64>() * 2.0 - 1.0;
            let recorded = store.write(move |tx| jobs::finish_delivery(tx, &task, &result, jitter)).await;
            if let Err(e) = recorded {
                // The lease lapses and the delivery is tried again: at least once, never lost.
                tracing::warn!(error = %e, "could not record a delivery; it will be retried");
            }
            drop(permit);
            wake.notify_one();
        });
    }
    Ok(timers > 0 || claimed > 0)
}
