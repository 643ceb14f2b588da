//! The job runner inside `kasir serve`: it runs due timers, makes due webhook deliveries and due wallet
//! calls. Network calls happen here, outside any database transaction; what they come to goes back
//! through the application layer as state changes.
//!
//! Nothing here holds time in memory: each pass asks the database what is due by the clock, so a
//! restarted process (or another process on the same database) carries on where this one stopped.

mod calls;
mod deliveries;
mod metrics;

pub use metrics::WorkerMetrics;

use std::time::Duration;

use kasir_app::outbox::{self, DELIVER};
use kasir_app::timers;

use kasir_app::App;
use kasir_store::StoreError;
use kasir_webhooks::Sender;
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a receiver has to answer.
    pub webhook_timeout: Duration,
    /// Deliveries in flight at once.
    pub webhook_concurrency: usize,
    /// How long one wallet call may take before its answer is given up for lost (the call is then
    /// handed out again, its `tries` counted).
    pub wallet_timeout: Duration,
    /// Wallet calls in flight at once.
    pub wallet_concurrency: usize,
    /// How often to look for due work when nothing wakes the worker sooner.
    pub poll: Duration,
    /// Timers applied per transaction.
    pub timer_batch: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 64,
            wallet_timeout: Duration::from_secs(90),
            wallet_concurrency: 16_384,
            poll: Duration::from_millis(50),
            timer_batch: 500,
        }
    }
}

/// How often the runner clears away stored idempotent answers past their time.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The pause between two sweep transactions, so other writes go between them.
const SWEEP_PAUSE: Duration = Duration::from_millis(50);

/// How long a woken worker waits for more wakes before it looks for due work.
const WAKE_COALESCE: Duration = Duration::from_millis(2);

/// Every kind of job the runner takes: the timers, deliveries, and the calls of the wallets it has.
fn kinds(app: &App) -> std::sync::Arc<[&'static str]> {
    timers::TIMERS.iter().copied().chain([DELIVER]).chain(kasir_app::wallet::calls::kinds(&app.wallets)).collect()
}

/// Runs until `shutdown` turns true. The app's `wake` lets writers say "new work is due now".
pub async fn run(app: App, config: WorkerConfig, metrics: WorkerMetrics, mut shutdown: watch::Receiver<bool>) {
    let sender = Sender::new(config.webhook_timeout, config.webhook_concurrency, app.clock.clone());
    let (outbox, recorder) = deliveries::Outbox::start(&app, &config, &metrics);
    let calls = calls::Calls::new(&app, &config, &metrics);
    let kinds = kinds(&app);
    let wake = app.wake.clone();
    let sweeper = tokio::spawn(sweeper(app.clone(), metrics.clone(), shutdown.clone(), config.poll));
    while !*shutdown.borrow() {
        metrics.beat();
        match pass(&app, &config, &sender, &outbox, &calls, &kinds).await {
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
    // and any that do not are sent again once their lease lapses. Wallet calls in flight likewise.
    drop(outbox);
    sweeper.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), recorder).await;
}

/// One look at the job table. Returns whether it did anything (so the caller looks again at once).
async fn pass(
    app: &App,
    config: &WorkerConfig,
    sender: &Sender,
    outbox: &deliveries::Outbox,
    calls: &calls::Calls,
    kinds: &std::sync::Arc<[&'static str]>,
) -> Result<bool, StoreError> {
    let now = app.clock.now();
    let kinds = kinds.clone();
    if !app.store.read(move |tx| tx.has_due_job(&kinds, now)).await? {
        return Ok(false);
    }
    let batch = config.timer_batch;
    let lease = outbox.lease;
    // The deliveries the timers schedule come straight back, leased to this worker, up to its free
    // send slots: no second transaction to claim them, and they go out as soon as the timers commit.
    // Two batches in flight, so the writer has the next one queued while it commits this one.
    let free = outbox.free();
    let timers_write = |max: usize| {
        let fairness = outbox.fairness.clone();
        app.store.write(move |tx| {
            let mut handoff = outbox::Handoff::new(lease, max, fairness.room());
            let n = timers::run_due(tx, now, batch, Some(&mut handoff))?;
            Ok::<_, StoreError>((n, handoff.tasks))
        })
    };
    let (first, second) = tokio::join!(timers_write(free / 2), timers_write(free - free / 2));
    let ((n1, mut tasks), (n2, more)) = (first?, second?);
    tasks.extend(more);
    let free = free.saturating_sub(tasks.len());
    if free > 0 {
        let fairness = outbox.fairness.clone();
        let claimed = app.store.write(move |tx| outbox::claim_deliveries(tx, now, free, lease, &mut fairness.room()));
        tasks.extend(claimed.await?);
    }
    let delivered = tasks.len();
    outbox.send_all(sender, tasks);
    let called = calls.run_due(app, now).await?;
    Ok(n1 + n2 > 0 || delivered > 0 || called > 0)
}

/// Every [`SWEEP_EVERY`] by the app's clock (looked at every `poll`), deletes the stored idempotent
/// answers past their time, a batch per transaction with a pause between, beside the job passes
/// rather than in them. Every process sweeps; on one database they share the work, and deleting what
/// another already deleted is nothing.
async fn sweeper(app: App, metrics: WorkerMetrics, mut shutdown: watch::Receiver<bool>, poll: Duration) {
    let mut next = app.clock.now();
    while !*shutdown.borrow() {
        if app.clock.now() >= next {
            next = app.clock.now().plus(SWEEP_EVERY);
            loop {
                let now = app.clock.now();
                match app.store.write(move |tx| kasir_app::idempotency::sweep(tx, now)).await {
                    Ok(n) => {
                        metrics.swept(n);
                        if n < kasir_app::idempotency::SWEEP_BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sweeping idempotency records failed; trying again later");
                        break;
                    }
                }
                tokio::time::sleep(SWEEP_PAUSE).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll.max(Duration::from_millis(50))) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return; // whoever could stop us is gone
                }
            }
        }
    }
}

/// Slots: a semaphore of `n`, at least one.
fn slots(n: usize) -> std::sync::Arc<Semaphore> {
    std::sync::Arc::new(Semaphore::new(n.max(1)))
}
