//! Webhook deliveries: send slots, the sends, and the recorder that writes what each try came to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kasir_app::outbox::{self, DeliveryTask, Room};
use kasir_app::App;
use kasir_domain::TryResult;
use kasir_store::StoreError;
use kasir_webhooks::{Outgoing, Sender};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::{WorkerConfig, WorkerMetrics};

/// Tries whose results wait to be recorded, at most; beyond it, senders wait for the recorder.
const UNRECORDED: usize = 4096;
/// Results recorded in one transaction at most.
const RECORD_BATCH: usize = 1024;
/// How long the recorder lets results gather after a write that was not full. Every commit rewrites
/// the pages it touches (the job queue's tail, the delivery log's tail), so a few large commits cost
/// far less than many small ones; the sends themselves never wait for this.
const RECORD_PAUSE: Duration = Duration::from_millis(20);

/// Each receiver's deliveries taken (in flight or waiting for a send slot), bounded so that one receiver
/// that hangs holds at most half the slots and every other receiver's webhooks go out meanwhile.
pub(crate) struct Fairness {
    cap: usize,
    taken: Mutex<HashMap<String, usize>>,
}

impl Fairness {
    fn new(slots: usize) -> Fairness {
        Fairness { cap: (slots / 2).max(1), taken: Mutex::new(HashMap::new()) }
    }

    /// The room each receiver has, for one transaction: what is taken now, and what it takes.
    pub(crate) fn room(&self) -> Room {
        let now = self.taken.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cap = self.cap;
        let mut mine: HashMap<String, usize> = HashMap::new();
        Box::new(move |receiver: &str| {
            let n = now.get(receiver).copied().unwrap_or(0) + mine.get(receiver).copied().unwrap_or(0);
            if n >= cap {
                return false;
            }
            *mine.entry(receiver.to_string()).or_default() += 1;
            true
        })
    }

    fn took(&self, receiver: &str) {
        *self.taken.lock().unwrap_or_else(|p| p.into_inner()).entry(receiver.to_string()).or_default() += 1;
    }

    fn done(&self, receiver: &str) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = taken.get_mut(receiver) {
            *n -= 1;
            if *n == 0 {
                taken.remove(receiver);
            }
        }
    }
}

/// A finished try on its way to the database.
type Finished = (DeliveryTask, TryResult, f64);

/// Where taken deliveries go: their send slots, and the recorder of their results.
pub(crate) struct Outbox {
    /// How long a delivery is held: long enough for a try to time out and be recorded; a dead
    /// worker's deliveries wait this long.
    pub(crate) lease: Duration,
    /// Sends in flight.
    sending: Arc<Semaphore>,
    /// Deliveries taken: in flight or waiting for a send slot.
    taken: Arc<Semaphore>,
    results: mpsc::Sender<Finished>,
    /// Woken when a send slot frees.
    wake: Arc<Notify>,
    metrics: WorkerMetrics,
    pub(crate) fairness: Arc<Fairness>,
}

impl Outbox {
    /// The outbox and its recorder's task.
    pub(crate) fn start(app: &App, config: &WorkerConfig, metrics: &WorkerMetrics) -> (Outbox, JoinHandle<()>) {
        let (results, finished) = mpsc::channel::<Finished>(UNRECORDED);
        let recorder = tokio::spawn(record(app.clone(), finished));
        let slots = config.webhook_concurrency.max(1);
        let outbox = Outbox {
            lease: config.webhook_timeout + Duration::from_secs(5),
            sending: crate::slots(slots),
            // Taking up to twice the send slots keeps every slot busy between passes.
            taken: crate::slots(2 * slots),
            results,
            wake: app.wake.clone(),
            metrics: metrics.clone(),
            fairness: Arc::new(Fairness::new(slots)),
        };
        (outbox, recorder)
    }

    /// How many more deliveries may be taken now.
    pub(crate) fn free(&self) -> usize {
        self.taken.available_permits()
    }

    /// Sends each task as soon as a slot is free; its result goes to the recorder.
    pub(crate) fn send_all(&self, sender: &Sender, tasks: Vec<DeliveryTask>) {
        for task in tasks {
            let held = self.taken.clone().try_acquire_owned().expect("no more taken than free");
            let (sender, permits) = (sender.clone(), self.sending.clone());
            let (results, wake, metrics) = (self.results.clone(), self.wake.clone(), self.metrics.clone());
            let (fairness, receiver) = (self.fairness.clone(), outbox::receiver(&task.url));
            fairness.took(&receiver);
            tokio::spawn(async move {
                let permit = permits.acquire_owned().await.expect("semaphore is never closed");
                let result = sender.send(&outgoing(&task)).await;
                drop((permit, held));
                fairness.done(&receiver);
                metrics.delivered(&result);
                wake.notify_one(); // a slot is free: more due deliveries may be taken
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                // Waits only when the recorder is far behind; if the process ends first, the lease lapses
                // and the delivery is sent again.
                let _ = results.send((task, result, jitter)).await;
            });
        }
    }
}

fn outgoing(task: &DeliveryTask) -> Outgoing<'_> {
    Outgoing {
        mode: task.scope.mode,
        url: &task.url,
        event_id: &task.event_id,
        created_at: &task.created_at,
        body: &task.body,
        secrets: &task.secrets,
    }
}

/// Records finished tries, many per transaction: a try's outcome, and the job deleted or rescheduled.
async fn record(app: App, mut finished: mpsc::Receiver<Finished>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let tries = std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH));
        let n = tries.len();
        let recorded = app
            .store
            .write(move |tx| {
                for (task, result, jitter) in &tries {
                    outbox::finish_delivery(tx, task, result, *jitter)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(e) = recorded {
            // The leases lapse and the deliveries are tried again: at least once, never lost.
            tracing::warn!(error = %e, tries = n, "could not record deliveries; they will be retried");
        }
        app.wake.notify_one();
        if n < RECORD_BATCH {
            tokio::time::sleep(RECORD_PAUSE).await;
        }
    }
}
