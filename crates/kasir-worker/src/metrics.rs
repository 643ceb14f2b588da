//! What the job runner tells `/metrics` and `/readyz`: webhook deliveries by outcome with their
//! latency, wallet calls by request and answer, idempotency records swept, and a heartbeat each pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kasir_app::wallet::{Answer, CallOp};
use kasir_domain::TryResult;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    op: &'static str,
    answer: &'static str,
}

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The runner's metrics and heartbeat; cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    deliveries: Family<DeliveryLabels, Histogram>,
    calls: Family<CallLabels, Histogram>,
    swept: Counter,
    heartbeat: Arc<AtomicU64>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics {
            deliveries: Family::new_with_constructor(latency_buckets),
            calls: Family::new_with_constructor(latency_buckets),
            swept: Counter::default(),
            heartbeat: Arc::default(),
        }
    }
}

/// How a webhook try ended, as a label.
pub fn outcome(result: &TryResult) -> &'static str {
    if result.succeeded() {
        "delivered"
    } else if result.error.starts_with("refused:") {
        "refused"
    } else if result.error.starts_with("timeout") {
        "timeout"
    } else if result.http_status.is_some() {
        "http_error"
    } else {
        "connection_error"
    }
}

impl WorkerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "kasir_webhook_delivery",
            "Webhook tries by outcome, and how long each took",
            Unit::Seconds,
            self.deliveries.clone(),
        );
        registry.register_with_unit(
            "kasir_wallet_call",
            "Wallet calls by request and answer, and how long each took",
            Unit::Seconds,
            self.calls.clone(),
        );
        registry.register(
            "kasir_idempotency_keys_swept",
            "Stored Idempotency-Key answers deleted once past their 24 hours",
            self.swept.clone(),
        );
    }

    pub(crate) fn swept(&self, n: usize) {
        self.swept.inc_by(n as u64);
    }

    pub(crate) fn delivered(&self, result: &TryResult) {
        self.deliveries
            .get_or_create(&DeliveryLabels { outcome: outcome(result) })
            .observe(result.latency.as_secs_f64());
    }

    pub(crate) fn called(&self, op: CallOp, answer: Option<&Answer>, took: std::time::Duration) {
        let op = op.name();
        let answer = match answer {
            Some(Answer::Settled(..)) => "settled",
            Some(Answer::Refunded(_)) => "refunded",
            Some(Answer::Manual(_)) => "manual",
            Some(Answer::Again { .. }) => "again",
            Some(Answer::Done) => "done",
            None => "timed_out",
        };
        self.calls.get_or_create(&CallLabels { op, answer }).observe(took.as_secs_f64());
    }

    /// Marks a pass of the runner.
    pub(crate) fn beat(&self) {
        self.heartbeat.store(unix_millis(), Ordering::Relaxed);
    }

    /// How long ago the runner last made a pass; `None` before its first.
    pub fn since_last_pass(&self) -> Option<std::time::Duration> {
        match self.heartbeat.load(Ordering::Relaxed) {
            0 => None,
            at => Some(std::time::Duration::from_millis(unix_millis().saturating_sub(at))),
        }
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
