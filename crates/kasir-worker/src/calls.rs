//! Wallet calls: claimed with a lease, made outside any transaction, their answers applied as state
//! changes. A call that outlives `wallet_timeout` is given up for lost: its lease lapses and it is handed
//! out again with its `tries` counted, as after a crash.

use std::sync::Arc;
use std::time::Duration;

use kasir_app::wallet::calls::{self, PendingCall};
use kasir_app::{App, AppError};
use kasir_domain::Timestamp;
use kasir_store::StoreError;
use tokio::sync::Semaphore;

use crate::{WorkerConfig, WorkerMetrics};

pub(crate) struct Calls {
    /// The call job kinds of the wallets this process has.
    kinds: Arc<[&'static str]>,
    timeout: Duration,
    lease: Duration,
    in_flight: Arc<Semaphore>,
    metrics: WorkerMetrics,
}

impl Calls {
    pub(crate) fn new(app: &App, config: &WorkerConfig, metrics: &WorkerMetrics) -> Calls {
        Calls {
            kinds: calls::kinds(&app.wallets).into(),
            timeout: config.wallet_timeout,
            lease: config.wallet_timeout + Duration::from_secs(5),
            in_flight: crate::slots(config.wallet_concurrency),
            metrics: metrics.clone(),
        }
    }

    /// Claims the due calls there are free slots for and starts them; returns how many.
    pub(crate) async fn run_due(&self, app: &App, now: Timestamp) -> Result<usize, StoreError> {
        let free = self.in_flight.available_permits();
        // A look before the claim: a read costs the writer nothing, and calls are rare beside timers.
        let kinds = self.kinds.clone();
        if free == 0 || !app.store.read(move |tx| tx.has_due_job(&kinds, now)).await? {
            return Ok(0);
        }
        let (lease, wallets) = (self.lease, app.wallets.clone());
        let claimed = app.store.write(move |tx| calls::claim(tx, &wallets, now, free, lease)).await?;
        let n = claimed.len();
        for pending in claimed {
            let slot = self.in_flight.clone().try_acquire_owned().expect("no more claimed than free");
            let (app, timeout, metrics) = (app.clone(), self.timeout, self.metrics.clone());
            tokio::spawn(async move {
                make(&app, pending, timeout, &metrics).await;
                drop(slot);
                app.wake.notify_one();
            });
        }
        Ok(n)
    }
}

/// Makes one call and applies its answer.
async fn make(app: &App, pending: PendingCall, timeout: Duration, metrics: &WorkerMetrics) {
    let Some(wallet) = app.wallets.of(pending.scope.mode) else {
        tracing::error!(job = pending.job_id, "a wallet call for a mode without a wallet; it waits for one");
        return;
    };
    let started = std::time::Instant::now();
    let answered = tokio::time::timeout(timeout, wallet.call(&pending.call)).await;
    metrics.called(pending.call.op, answered.as_ref().ok(), started.elapsed());
    let answer = match answered {
        Ok(a) => a,
        Err(_) => {
            tracing::warn!(job = pending.job_id, op = ?pending.call.op, "a wallet call took too long; it will be made again");
            return;
        }
    };
    let (job, now) = (pending.job_id, app.clock.now());
    let applied = app.store.write(move |tx| calls::apply(tx, &pending, &answer, now)).await;
    match applied {
        Ok(()) => {}
        Err(AppError::Store(e)) => {
            tracing::warn!(job, error = %e, "could not record a wallet answer; the call will be made again")
        }
        Err(AppError::Domain(e)) => tracing::error!(job, error = %e, "a wallet answer names nothing to change"),
    }
}
