//! What the store tells `/metrics`: events committed by type (the payins' and attempts' transitions
//! by outcome), the SQLite writer's batches and commit times, and PostgreSQL's pool in use.

use kasir_domain::EventType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    r#type: &'static str,
}

/// The store's metrics; cheap to clone (every field is shared).
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    events: Family<EventLabels, Counter>,
    writer_batch: Histogram,
    writer_commit: Histogram,
    pub(crate) pg_in_use: Gauge,
    pub(crate) pg_pool: Gauge,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            events: Family::default(),
            writer_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            writer_commit: Histogram::new(exponential_buckets(0.000_05, 2.0, 14)),
            pg_in_use: Gauge::default(),
            pg_pool: Gauge::default(),
        }
    }
}

impl StoreMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kasir_events",
            "Events committed, by type: the payins', attempts' and refunds' transitions by outcome",
            self.events.clone(),
        );
        registry.register("kasir_sqlite_batch_writes", "Writes per SQLite group commit", self.writer_batch.clone());
        registry.register_with_unit(
            "kasir_sqlite_commit",
            "Time to COMMIT (and sync) one SQLite group commit",
            prometheus_client::registry::Unit::Seconds,
            self.writer_commit.clone(),
        );
        registry.register("kasir_pg_connections_in_use", "PostgreSQL connections in use", self.pg_in_use.clone());
        registry.register("kasir_pg_pool_size", "PostgreSQL connections this process may use", self.pg_pool.clone());
    }

    pub(crate) fn committed(&self, events: &EventTally) {
        for (t, n) in EventType::ALL.iter().zip(events.0) {
            if n > 0 {
                self.events.get_or_create(&EventLabels { r#type: t.as_str() }).inc_by(u64::from(n));
            }
        }
    }

    pub(crate) fn sqlite_batch(&self, writes: usize, commit: std::time::Duration) {
        self.writer_batch.observe(writes as f64);
        self.writer_commit.observe(commit.as_secs_f64());
    }
}

/// The events a transaction wrote, by type, counted once it commits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EventTally([u32; EventType::ALL.len()]);

impl EventTally {
    pub(crate) fn add(&mut self, kind: EventType) {
        self.0[kind.index()] += 1;
    }

    pub(crate) fn merge(&mut self, other: &EventTally) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}
