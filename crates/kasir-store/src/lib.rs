//! Kasir's persistence, and nothing else: records, the [`Tx`] interface, two backends, migrations.
//!
//! The store takes whole state changes, not row-by-row calls: a write is a closure over a [`Tx`] (the
//! application layer's use cases) that loads objects, lets the domain decide, and persists the new state
//! with its events and jobs. The SQLite backend runs every write on one writer thread that
//! group-commits: it applies many requests' closures in one transaction (a closure that fails after
//! changing rows sends the batch round again with each closure in a savepoint of its own, so one failure
//! rolls back only itself), syncs once, and answers each caller only after the commit. Reads go to a
//! pool of read-only connections. PostgreSQL runs each write as one transaction on a pooled connection.
//! See `docs/decisions/0002-storage.md` and `0008-postgres.md`.
//!
//! Layout: `tx.rs` (one small trait per aggregate; `Tx` combines them), `records.rs`, `codec.rs` (how
//! values meet columns), `schema.rs` (the migrations, written once), `sqlite/` and `pg/` (one file per
//! aggregate each, beside the backend's connection handling).

mod codec;
mod metrics;
mod pg;
mod records;
mod schema;
mod sqlite;
mod tx;

pub use metrics::StoreMetrics;
pub use pg::PgStore;
pub use records::{
    AccountRecord, AuditRecord, CreatedRange, EventFilter, IdemRecord, IdemState, Job, KeyRecord, Listed, Page,
    PageRequest, PayinSearch, SessionRecord, StreamCursor, StreamStart, StreamedEvent, UserRecord, TABLES,
};
pub use sqlite::SqliteStore;
pub use tx::{
    AccountRecords, AttemptRecords, CheckoutRecords, CustomerRecords, EndpointRecords, EventRecords,
    IdempotencyRecords, JobRecords, PayinRecords, RefundRecords, ReportRecords, SequenceRecords, Tx, UserRecords,
};

use std::sync::Arc;

use sqlite::doc_cache::Lookup;

use kasir_domain::Mode;

/// A store operation's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whose objects a request may see: one account, in one mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub mode: Mode,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("database error: {}", pg::describe(.0))]
    Pg(postgres::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("a unique constraint was violated: {0}")]
    Conflict(String),
    #[error("invalid database URL: {0}")]
    Url(String),
}

impl StoreError {
    /// Whether retrying later may succeed: the database is down, busy, or out of disk.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Pg(e) => pg::pg_transient(e),
            StoreError::Db(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen | C::DiskFull | C::SystemIoFailure)
            }
            _ => false,
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL connections in use at once (each process).
    pub pg_pool_size: usize,
    /// This process serves the database (`kasir serve`). On SQLite it takes the file's owner lock, so
    /// a second server on the same file fails to start, and caches payin documents for reads; the
    /// CLI's other commands open the file without it, beside a running server.
    pub owner: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { pg_pool_size: 16, owner: false }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The store, whichever backend holds it. Both run the same `ops` over the same [`Tx`] interface.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`: `sqlite://PATH` or
    /// `postgres://…` (`postgresql://…`).
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, &StoreOptions::default())
    }

    pub fn open_with(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(PgStore::open(url, opts.pg_pool_size)?)
        } else {
            Backend::Sqlite(SqliteStore::open(&sqlite_path(url)?, opts.owner)?)
        };
        Ok(Store { backend })
    }

    /// The store's metrics, to register with `/metrics`.
    pub fn metrics(&self) -> &StoreMetrics {
        match &self.backend {
            Backend::Sqlite(s) => s.metrics(),
            Backend::Postgres(p) => p.metrics(),
        }
    }

    /// Whether the database's schema is the one this build knows (every migration applied, none newer).
    pub async fn schema_is_current(&self) -> Result<bool> {
        Ok(self.read(|tx| tx.schema_version()).await? == schema::MIGRATIONS.len())
    }

    /// A consistent copy of a SQLite database at `dest`, made while servers run on it; `progress` is
    /// told (pages done, pages in all) after each step. `None` for PostgreSQL, which `pg_dump` copies.
    pub fn backup(&self, dest: &std::path::Path, progress: &mut dyn FnMut(u64, u64)) -> Option<Result<()>> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.backup(dest, progress)),
            Backend::Postgres(_) => None,
        }
    }

    /// Whether this store is PostgreSQL (shared by processes) rather than SQLite.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Runs `op` in a write transaction and returns its result once the transaction is durable.
    /// `op` may run more than once (on SQLite its group commit runs again if another write in it fails
    /// after changing rows): it must act only through `tx`; the last run's changes and result count.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.write(op).await,
            Backend::Postgres(p) => p.write(op).await,
        }
    }

    /// Runs `op` on a read-only snapshot.
    pub async fn read<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.read(op).await,
            Backend::Postgres(p) => p.read(op).await,
        }
    }

    /// A payin's stored JSON (the wire object), if it is in `scope`: from the document cache when this
    /// process owns its SQLite file and has it, else from the database (and then cached; see
    /// `docs/decisions/0011-payin-document-cache.md`). PostgreSQL has no cache.
    pub async fn payin_json(&self, scope: &Scope, id: &str) -> Result<Option<Arc<str>>, StoreError> {
        let cache = match &self.backend {
            Backend::Sqlite(s) => s.docs(),
            Backend::Postgres(_) => None,
        };
        let epoch = match cache.map(|c| c.get(scope, id)) {
            Some(Lookup::Hit(doc)) => return Ok(Some(doc)),
            Some(Lookup::Miss(epoch)) => Some(epoch),
            None => None,
        };
        let (s, i) = (scope.clone(), id.to_string());
        let found: Option<Arc<str>> = self.read(move |tx| tx.payin_json(&s, &i).map(|d| d.map(Arc::from))).await?;
        if let (Some(cache), Some(epoch), Some(doc)) = (cache, epoch, &found) {
            cache.offer(epoch, scope, id, doc.clone());
        }
        Ok(found)
    }

    /// Runs `op` in a write transaction from blocking code (the CLI).
    pub fn write_blocking<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.write_blocking(op),
            Backend::Postgres(p) => p.write_blocking(op),
        }
    }

    /// A human description of where the data lives (no password), for the start-up log line.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.describe(),
            Backend::Postgres(p) => p.describe(),
        }
    }
}

fn sqlite_path(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Url(format!("{url}: expected sqlite://PATH")))?;
    let path = rest.split('?').next().unwrap_or(rest);
    // SQLite's own URI form names the same file: `sqlite:file:kasir.db`, `sqlite:file:///var/kasir.db`.
    let path = path.strip_prefix("file:").map(|p| p.strip_prefix("//").unwrap_or(p)).unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Url(format!("{url}: give a file path, e.g. sqlite://kasir.db")));
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(sqlite_path("sqlite://kasir.db").unwrap(), "kasir.db");
        assert_eq!(sqlite_path("sqlite:///var/lib/kasir.db").unwrap(), "/var/lib/kasir.db");
        assert_eq!(sqlite_path("sqlite:kasir.db?mode=rwc").unwrap(), "kasir.db");
        assert_eq!(sqlite_path("sqlite:file:kasir.db").unwrap(), "kasir.db");
        assert_eq!(sqlite_path("sqlite:file:///var/lib/kasir.db?mode=rwc").unwrap(), "/var/lib/kasir.db");
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("sqlite:file::memory:").is_err());
        assert!(sqlite_path("mysql://x").is_err());
    }
}
