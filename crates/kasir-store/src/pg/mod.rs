//! The PostgreSQL backend: a pool of connections, each write one transaction, rows locked in one order.
//!
//! Many `kasir serve` processes may share one database. Concurrency is the database's: a payin's row
//! lock orders every change to it, unique indexes hold the invariants, jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`, and idempotency keys are claimed with an atomic insert. Concurrent
//! connections give group commit for free. Each aggregate's records are a file of their own beside this one.

mod accounts;
pub(crate) mod batch;
mod checkouts;
mod customers;
mod events;
mod idempotency;
mod jobs;
mod payins;
mod refunds;
mod reports;
mod sequences;
mod tx;
mod users;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use tokio::sync::Semaphore;

use crate::metrics::{EventTally, StoreMetrics};
use crate::schema::{self, Dialect, MIGRATIONS};
use crate::{StoreError, Tx};
use batch::{Batch, Committer, Prepared};
use tx::PgTx;

/// Connections held open when idle.
const MAX_IDLE: usize = 64;

/// A pooled connection and the statements prepared on it.
type Pooled = (Client, Prepared);

#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: postgres::Config,
    display: String,
    idle: Mutex<Vec<Pooled>>,
    permits: Semaphore,
    /// Group commit for transactions that only add rows; `None` with a pool too small to spare it
    /// connections.
    committer: Option<Committer>,
    metrics: StoreMetrics,
}

/// Connections of the pool that group-commit (see `pg_batch`), when the pool has at least
/// [`MIN_POOL_FOR_COMMITTER`]: one, so that concurrent batches wait for it and merge.
const COMMITTER_THREADS: usize = 1;
const MIN_POOL_FOR_COMMITTER: usize = 2;

impl Drop for Inner {
    fn drop(&mut self) {
        // A blocking client closes itself on drop by blocking; never do that on an async runtime's thread.
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("kasir-pg-close".into()).spawn(move || drop(idle));
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return StoreError::Conflict(e.to_string());
        }
        StoreError::Pg(e)
    }
}

/// A PostgreSQL error as an operator needs it: the server's own message, code and detail, which the
/// client's `Display` leaves out (it says only "db error").
pub(crate) fn describe(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return kasir_domain::error::chain(e);
    };
    let mut msg = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        msg.push_str(&format!(" ({detail})"));
    }
    if let Some(table) = db.table() {
        msg.push_str(&format!(" [table {table}]"));
    }
    msg
}

/// Whether a PostgreSQL error means "try again later" rather than "this request is wrong".
pub(crate) fn pg_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true, // no SQLSTATE: the connection itself failed
        Some(c) => {
            let class = &c.code()[..2];
            class == "08" // connection exception
                || class == "57" // operator intervention (shutdown, cancel)
                || class == "53" // insufficient resources
                || c == &SqlState::T_R_SERIALIZATION_FAILURE
                || c == &SqlState::T_R_DEADLOCK_DETECTED
        }
    }
}

fn redact(url: &str) -> String {
    // postgres://user:password@host/db -> postgres://user@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects (failing fast if the database is unreachable) and applies migrations.
    pub fn open(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Url(format!("{url}: {e}")))?;
        // Fail fast when the database is away: connecting, and writing to a peer that went silent.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        config.tcp_user_timeout(Duration::from_secs(5));
        config.keepalives(true).keepalives_idle(Duration::from_secs(10));
        config.application_name("kasir");
        // The pool size bounds this process's connections: the committer's come out of it.
        let pool_size = pool_size.max(1);
        let committer = if pool_size >= MIN_POOL_FOR_COMMITTER {
            let config = config.clone();
            let connect =
                move || config.connect(NoTls).map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")));
            Some(Committer::start(COMMITTER_THREADS, connect)?)
        } else {
            None
        };
        let permits = if committer.is_some() { pool_size - COMMITTER_THREADS } else { pool_size };
        let metrics = StoreMetrics::default();
        metrics.pg_pool.set(pool_size as i64);
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                display: redact(url),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(permits),
                committer,
                metrics,
            }),
        };
        // The blocking client may not run on an async runtime's thread; open from any caller.
        let me = store.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut client = me.connect()?;
                    migrate(&mut client)?;
                    me.give_back((client, Prepared::new()));
                    Ok::<_, StoreError>(())
                })
                .join()
                .unwrap_or_else(|_| Err(StoreError::Unavailable("opening the database panicked".into())))
        })?;
        Ok(store)
    }

    pub fn describe(&self) -> String {
        self.inner.display.clone()
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.inner.metrics
    }

    fn connect(&self) -> Result<Client, StoreError> {
        self.inner.config.connect(NoTls).map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))
    }

    fn take(&self) -> Result<Pooled, StoreError> {
        let idle = self.inner.idle.lock().expect("pool").pop();
        match idle {
            Some(c) if !c.0.is_closed() => Ok(c),
            _ => Ok((self.connect()?, Prepared::new())),
        }
    }

    fn give_back(&self, conn: Pooled) {
        if conn.0.is_closed() {
            return;
        }
        let mut idle = self.inner.idle.lock().expect("pool");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `op` as one transaction on a pooled connection, on the calling (blocking) thread.
    ///
    /// The transaction starts lazily (see [`PgTx`]). When it never began (it only added rows, or only
    /// read), its held writes are one atomic statement: with `defer` they come back to the caller, for
    /// the committer; without, they are sent here.
    /// The value, and when deferred the batch still to commit with the events it carries.
    fn run<T, E, F>(&self, write: bool, defer: bool, op: F) -> Result<(T, Option<(Batch, EventTally)>), E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let (mut client, mut stmts) = self.take()?;
        let result = {
            let mut tx = PgTx {
                client: &mut client,
                stmts: &mut stmts,
                write,
                began: false,
                held: Batch::default(),
                writes: 0,
                events: EventTally::default(),
            };
            match op(&mut tx) {
                Ok(v) => match tx.finish() {
                    Ok(Some(batch)) if !defer => match batch.send(tx.client, tx.stmts) {
                        Ok(()) => {
                            self.inner.metrics.committed(&tx.events);
                            Ok((v, None))
                        }
                        Err(e) => Err(e.into()),
                    },
                    Ok(Some(batch)) => Ok((v, Some((batch, tx.events)))),
                    Ok(None) => {
                        self.inner.metrics.committed(&tx.events);
                        Ok((v, None))
                    }
                    Err(e) => {
                        tx.abandon();
                        Err(e.into())
                    }
                },
                Err(e) => {
                    tx.abandon();
                    Err(e)
                }
            }
        };
        self.give_back((client, stmts));
        result
    }

    async fn run_async<T, E, F>(&self, write: bool, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let defer = self.inner.committer.is_some();
        let (value, batch) = {
            let _permit =
                self.inner.permits.acquire().await.map_err(|_| StoreError::Unavailable("pool closed".into()))?;
            let me = self.clone();
            self.inner.metrics.pg_in_use.inc();
            let ran = tokio::task::spawn_blocking(move || me.run(write, defer, op)).await;
            self.inner.metrics.pg_in_use.dec();
            ran.unwrap_or_else(|_| Err(StoreError::Unavailable("a database call panicked".into()).into()))?
        };
        if let (Some((batch, events)), Some(committer)) = (batch, &self.inner.committer) {
            committer.commit(batch).await?;
            self.inner.metrics.committed(&events);
        }
        Ok(value)
    }

    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.run_async(true, op).await
    }

    pub async fn read<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.run_async(false, op).await
    }

    pub fn write_blocking<T, E, F>(&self, op: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        self.run(true, false, op).map(|(v, _)| v)
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut txn = client.transaction()?;
    // Two processes starting at once migrate one after the other.
    txn.batch_execute(
        "SELECT pg_advisory_xact_lock(7244311);
         CREATE TABLE IF NOT EXISTS kasir_schema (version INTEGER NOT NULL)",
    )?;
    let current: Option<i32> = txn.query_opt("SELECT version FROM kasir_schema", &[])?.map(|r| r.get(0));
    let current = match current.unwrap_or(0) {
        // Before the schema was written once for both backends, PostgreSQL kept SQLite's first three
        // migrations as one and recorded it as version 1; every later version numbers alike.
        1 => 3,
        v => v as usize,
    };
    let current = schema::check_version(current)?;
    for sql in &MIGRATIONS[current..] {
        txn.batch_execute(&schema::render(sql, Dialect::Postgres))?;
    }
    txn.execute("DELETE FROM kasir_schema", &[])?;
    txn.execute("INSERT INTO kasir_schema (version) VALUES ($1)", &[&(MIGRATIONS.len() as i32)])?;
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error the server reports is logged with the server's words, not as a bare "db error". Runs
    /// when `KASIR_TEST_POSTGRES_URL` names a server.
    #[test]
    fn a_server_error_is_described_with_its_message_and_code() {
        let Some(url) = std::env::var("KASIR_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("skipped: set KASIR_TEST_POSTGRES_URL to run the PostgreSQL error test");
            return;
        };
        let mut c = Client::connect(&url, NoTls).expect("connect");
        let e = c.batch_execute("SELECT * FROM kasir_no_such_table").unwrap_err();
        assert_eq!(e.to_string(), "db error", "the client's own words");
        let said = StoreError::from(e).to_string();
        assert!(
            said.contains("42P01") && said.contains("kasir_no_such_table") && said.contains("does not exist"),
            "{said}"
        );
    }
}
