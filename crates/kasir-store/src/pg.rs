//! The PostgreSQL backend: a pool of connections, each write one transaction, rows locked in one order.
//!
//! Many `kasir serve` processes may share one database. Concurrency is the database's: a payin's row
//! lock orders every change to it, unique indexes hold the invariants, jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`, and idempotency keys are claimed with an atomic insert. Concurrent
//! connections give group commit for free.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kasir_domain::{Customer, Delivery, Event, EventType, Mode, Payin, PayinStatus, PaymentAttempt, Refund, Timestamp};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::pg_batch::*;
use crate::pg_schema::MIGRATIONS;
use crate::tx::{AccountRecord, IdemRecord, IdemState, Job, KeyRecord, Page, Tx, TABLES};
use crate::{Scope, StoreError};

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
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                display: redact(url),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(permits),
                committer,
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
    fn run<T, E, F>(&self, write: bool, defer: bool, op: F) -> Result<(T, Option<Batch>), E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let (mut client, mut stmts) = self.take()?;
        let result = {
            let mut tx =
                PgTx { client: &mut client, stmts: &mut stmts, write, began: false, held: Batch::default(), writes: 0 };
            match op(&mut tx) {
                Ok(v) => match tx.finish() {
                    Ok(Some(batch)) if !defer => match batch.send(tx.client, tx.stmts) {
                        Ok(()) => Ok((v, None)),
                        Err(e) => Err(e.into()),
                    },
                    Ok(batch) => Ok((v, batch)),
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
            tokio::task::spawn_blocking(move || me.run(write, defer, op))
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("a database call panicked".into()).into()))?
        };
        if let (Some(batch), Some(committer)) = (batch, &self.inner.committer) {
            committer.commit(batch).await?;
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
    let current = current.unwrap_or(0) as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this build knows ({}); upgrade kasir",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[current..] {
        txn.batch_execute(sql)?;
    }
    txn.execute("DELETE FROM kasir_schema", &[])?;
    txn.execute("INSERT INTO kasir_schema (version) VALUES ($1)", &[&(MIGRATIONS.len() as i32)])?;
    txn.commit()?;
    Ok(())
}

/// One transaction on one connection, with as few round trips as its work allows.
///
/// Writes whose only possible answer is "done" are held in a [`Batch`] and sent as one statement when
/// something needs them: a read of a row they touch, a write whose answer matters, or the commit.
/// `BEGIN` is sent only before the first statement that needs a transaction: a locking read, or any
/// statement sent while more work follows. Under PostgreSQL's READ COMMITTED every statement takes its
/// own snapshot anyway, so a read outside `BEGIN` sees exactly what it would have seen inside. A
/// transaction that never began ends with its batch alone, which the committer may merge with others.
struct PgTx<'a> {
    client: &'a mut Client,
    stmts: &'a mut Prepared,
    /// A write transaction: payin reads lock the row, and writes are allowed.
    write: bool,
    /// Whether `BEGIN` has been sent.
    began: bool,
    held: Batch,
    /// Writes made or held so far (see [`Tx::writes`]).
    writes: u64,
}

/// Rows held before they are sent anyway, so a long transaction's batch stays a modest statement.
const MAX_HELD_ROWS: usize = 2_000;

fn decode<T: DeserializeOwned>(s: String) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&s)?)
}

fn mode_of(s: &str) -> Result<Mode, StoreError> {
    Mode::parse(s).ok_or_else(|| StoreError::Corrupt(format!("mode {s}")))
}

fn key_row(r: &Row) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        access_key: r.get(0),
        secret_hash: r.get(1),
        account_id: r.get(2),
        mode: mode_of(r.get(3))?,
        created_at: Timestamp::from_micros(r.get(4)),
    })
}

/// Jobs from `id, kind, payload, tries, run_at` rows, oldest first; `extra_tries` is added to the stored
/// count so that `tries` includes the try about to be made.
fn jobs_of(rows: &[Row], extra_tries: u32) -> Vec<Job> {
    let mut jobs: Vec<Job> = rows
        .iter()
        .map(|r| Job {
            id: r.get(0),
            kind: r.get(1),
            payload: r.get(2),
            tries: r.get::<_, i32>(3) as u32 + extra_tries,
            run_at: Timestamp::from_micros(r.get(4)),
        })
        .collect();
    jobs.sort_by_key(|j| (j.run_at, j.id));
    jobs
}

fn status_str<S: serde::Serialize>(s: &S) -> Result<String, StoreError> {
    match serde_json::to_value(s)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Corrupt(format!("status is not a string: {other}"))),
    }
}

impl PgTx<'_> {
    /// The prepared statement for `sql` on this connection, prepared on first use: one round trip per
    /// statement after that, and no planning from scratch.
    fn stmt(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if !self.began {
            self.client.batch_execute("BEGIN")?;
            self.began = true;
        }
        Ok(())
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.write {
            Ok(())
        } else {
            Err(StoreError::Corrupt("a read transaction tried to write".into()))
        }
    }

    /// Sends every held write inside the transaction.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.held.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let held = std::mem::take(&mut self.held);
        held.send(self.client, self.stmts)
    }

    /// Holds a write until something needs it. A second write to a row already held goes out after it,
    /// so no statement changes one row twice.
    fn hold(&mut self, kind: usize, key: Option<String>, row: Vec<Param>) -> Result<(), StoreError> {
        self.writable()?;
        self.writes += 1;
        if self.held.clashes(kind, &key) || self.held.rows() >= MAX_HELD_ROWS {
            self.flush()?;
        }
        self.held.push(kind, key, row);
        Ok(())
    }

    /// Holds the update of a stored document's status and JSON, keyed by its id.
    fn hold_update(&mut self, kind: usize, id: &str, status: &str, data: String) -> Result<(), StoreError> {
        self.hold(kind, Some(id.to_string()), vec![id.into(), status.into(), data.into()])
    }

    /// Before a read of `table` (of the row `key`, or of many rows when `None`): held writes it could
    /// see go out first, and a locking read starts the transaction.
    fn before_read(&mut self, table: &str, key: Option<&str>, locking: bool) -> Result<(), StoreError> {
        if self.held.touches(table, key) {
            self.flush()?;
        }
        if locking {
            self.begin()?;
        }
        Ok(())
    }

    /// Before a write whose answer matters (a count, a claimed row, a conflict): the transaction starts
    /// and every held write goes out first.
    fn before_write(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        self.writes += 1;
        self.begin()?;
        self.flush()
    }

    /// Ends a transaction whose work succeeded: its held writes and `COMMIT`. A transaction that never
    /// began returns its batch instead, for the caller to commit (alone or merged with others).
    fn finish(&mut self) -> Result<Option<Batch>, StoreError> {
        if !self.began {
            return Ok(Some(std::mem::take(&mut self.held)).filter(|b| !b.is_empty()));
        }
        self.flush()?;
        self.client.batch_execute("COMMIT")?;
        self.began = false;
        Ok(None)
    }

    /// Undoes whatever was sent; held writes were never sent.
    fn abandon(&mut self) {
        self.held = Batch::default();
        if self.began {
            let _ = self.client.batch_execute("ROLLBACK");
            self.began = false;
        }
    }

    fn cached_execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.client.execute(&st, params)?)
    }

    fn cached_query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    fn cached_query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    fn cached_query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_one(&st, params)?)
    }

    fn doc<T: DeserializeOwned>(
        &mut self,
        table: &str,
        scope: &Scope,
        id: &str,
        lock: bool,
    ) -> Result<Option<T>, StoreError> {
        self.before_read(table, Some(id), lock)?;
        let sql = format!(
            "SELECT data FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    /// Many rows of `table`, after the held writes to it have gone out.
    fn docs<T: DeserializeOwned>(
        &mut self,
        table: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.before_read(table, None, false)?;
        self.cached_query(sql, params)?.into_iter().map(|r| decode(r.get(0))).collect()
    }

    /// The `seq` of a listed object, for cursors; `None` when it is not this scope's.
    fn cursor(&mut self, table: &str, scope: &Scope, after: Option<&str>) -> Result<Option<i64>, StoreError> {
        match after {
            None => Ok(Some(i64::MAX)),
            Some(id) => {
                self.before_read(table, Some(id), false)?;
                let sql = format!("SELECT seq FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3");
                Ok(self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?.map(|r| r.get(0)))
            }
        }
    }

    fn page<T: DeserializeOwned>(
        &mut self,
        table: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let mut data: Vec<T> = self.docs(table, sql, params)?;
        let has_more = data.len() > limit;
        data.truncate(limit);
        Ok(Page { data, has_more })
    }
}

impl Tx for PgTx<'_> {
    fn writes(&self) -> u64 {
        self.writes
    }

    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>, StoreError> {
        let lock = self.write;
        self.doc("payins", scope, id, lock)
    }

    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>, StoreError> {
        self.before_read("payins", Some(id), false)?;
        let row = self.cached_query_opt(
            "SELECT data FROM payins WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&id, &scope.account_id, &scope.mode.as_str()],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_payin(&mut self, scope: &Scope, p: &Payin) -> Result<(), StoreError> {
        self.hold(
            INSERT_PAYIN,
            Some(p.id.clone()),
            vec![
                p.id.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                p.status.as_str().into(),
                p.created_at.as_micros().into(),
                serde_json::to_string(p)?.into(),
            ],
        )
    }

    fn update_payin(&mut self, p: &Payin) -> Result<(), StoreError> {
        // Every change to a payin first reads it under lock in this transaction, so the row is there.
        self.hold_update(UPDATE_PAYIN, &p.id, p.status.as_str(), serde_json::to_string(p)?)
    }

    fn list_payins(
        &mut self,
        scope: &Scope,
        status: Option<PayinStatus>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Payin>>, StoreError> {
        let Some(cursor) = self.cursor("payins", scope, starting_after)? else { return Ok(None) };
        let status = status.map(PayinStatus::as_str);
        let page = self.page(
            "payins",
            "SELECT data FROM payins WHERE account_id = $1 AND mode = $2 AND seq < $3
               AND ($4::TEXT IS NULL OR status = $4) ORDER BY seq DESC LIMIT $5",
            &[&scope.account_id, &scope.mode.as_str(), &cursor, &status, &((limit + 1) as i64)],
            limit,
        )?;
        Ok(Some(page))
    }

    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>, StoreError> {
        self.doc("payment_attempts", scope, id, false)
    }

    fn insert_attempt(&mut self, scope: &Scope, a: &PaymentAttempt) -> Result<(), StoreError> {
        self.hold(
            INSERT_ATTEMPT,
            Some(a.id.clone()),
            vec![
                a.id.as_str().into(),
                a.payin.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                status_str(&a.status)?.into(),
                a.created_at.as_micros().into(),
                serde_json::to_string(a)?.into(),
            ],
        )?;
        // A payin that already has a live attempt answers with a conflict, which the caller turns into
        // the payin's state error; in a transaction that has read the payin, it must come back here. A
        // payin created by this same transaction has no other attempt, so its insert can wait.
        if self.began {
            self.flush()?;
        }
        Ok(())
    }

    fn update_attempt(&mut self, a: &PaymentAttempt) -> Result<(), StoreError> {
        self.hold_update(UPDATE_ATTEMPT, &a.id, &status_str(&a.status)?, serde_json::to_string(a)?)
    }

    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>, StoreError> {
        self.doc("customers", scope, id, false)
    }

    fn insert_customer(&mut self, scope: &Scope, c: &Customer) -> Result<(), StoreError> {
        self.hold(
            INSERT_CUSTOMER,
            Some(c.id.clone()),
            vec![
                c.id.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                c.created_at.as_micros().into(),
                serde_json::to_string(c)?.into(),
            ],
        )
    }

    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<(), StoreError> {
        for e in events {
            self.hold(
                INSERT_EVENT,
                Some(e.id.clone()),
                vec![
                    e.id.as_str().into(),
                    scope.account_id.as_str().into(),
                    scope.mode.as_str().into(),
                    e.kind.as_str().into(),
                    e.object_id().as_str().into(),
                    e.created_at.as_micros().into(),
                    serde_json::to_string(e)?.into(),
                ],
            )?;
        }
        Ok(())
    }

    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>, StoreError> {
        self.docs(
            "events",
            "SELECT data FROM events WHERE account_id = $1 AND mode = $2 AND object_id = $3 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str(), &object_id],
        )
    }

    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            &[&id, &name, &now.as_micros()],
        )?;
        Ok(())
    }

    fn first_account(&mut self) -> Result<Option<String>, StoreError> {
        self.before_read("accounts", None, false)?;
        Ok(self.cached_query_opt("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1", &[])?.map(|r| r.get(0)))
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO api_keys (access_key, secret_hash, account_id, mode, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&k.access_key, &k.secret_hash, &k.account_id, &k.mode.as_str(), &k.created_at.as_micros()],
        )?;
        Ok(())
    }

    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.before_read("api_keys", None, false)?;
        let row = self.cached_query_opt(
            "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys WHERE access_key = $1",
            &[&access_key],
        )?;
        row.map(|r| key_row(&r)).transpose()
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        self.before_read("api_keys", None, false)?;
        self.cached_query(
                "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys ORDER BY created_at, access_key",
                &[],
            )?
            .iter()
            .map(key_row)
            .collect()
    }

    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        let lock = self.write;
        self.before_read("idempotency_keys", Some(&format!("{access_key}\n{key}")), lock)?;
        let sql = format!(
            "SELECT request_hash, state, response_status, response_body, created_at, locked_until
             FROM idempotency_keys WHERE access_key = $1 AND key = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = self.cached_query_opt(&sql, &[&access_key, &key])?;
        Ok(row.map(|r| {
            let state: String = r.get(1);
            IdemRecord {
                request_hash: r.get(0),
                state: if state == "done" { IdemState::Done } else { IdemState::Running },
                response_status: r.get::<_, Option<i32>>(2).unwrap_or(0) as u16,
                response_body: r.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
                created_at: Timestamp::from_micros(r.get(4)),
                locked_until: Timestamp::from_micros(r.get(5)),
            }
        }))
    }

    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<(), StoreError> {
        // The key was claimed by this caller (or is being taken over under its row lock), so only this
        // transaction writes it: the upsert can wait with the rest.
        self.hold(
            PUT_IDEMPOTENCY,
            Some(format!("{access_key}\n{key}")),
            vec![
                access_key.into(),
                key.into(),
                rec.request_hash.as_str().into(),
                if rec.state == IdemState::Done { "done" } else { "running" }.into(),
                Param::Int4(rec.response_status as i32),
                Param::Bytes(rec.response_body.clone()),
                rec.created_at.as_micros().into(),
                rec.locked_until.as_micros().into(),
            ],
        )
    }

    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool, StoreError> {
        self.before_write()?;
        let n = self.cached_execute(
            "INSERT INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (access_key, key) DO NOTHING",
            &[
                &access_key,
                &key,
                &rec.request_hash,
                &if rec.state == IdemState::Done { "done" } else { "running" },
                &(rec.response_status as i32),
                &rec.response_body,
                &rec.created_at.as_micros(),
                &rec.locked_until.as_micros(),
            ],
        )?;
        Ok(n == 1)
    }

    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "DELETE FROM idempotency_keys
             WHERE access_key = $1 AND key = $2 AND state = 'running' AND locked_until = $3",
            &[&access_key, &key, &lease.as_micros()],
        )?;
        Ok(())
    }

    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        TABLES
            .iter()
            .map(|t| {
                self.before_read(t, None, false)?;
                let n: i64 = self.cached_query_one(&format!("SELECT count(*) FROM {t}"), &[])?.get(0);
                Ok((*t, n))
            })
            .collect()
    }

    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<(), StoreError> {
        self.hold(
            INSERT_JOB,
            None,
            vec![kind.into(), payload.into(), run_at.as_micros().into(), now.as_micros().into()],
        )
    }

    fn claim_jobs(
        &mut self,
        kinds: &[&str],
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        self.before_write()?;
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let rows = self.cached_query(
            "UPDATE jobs SET locked_until = $3, tries = tries + 1
             WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2
                          ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, tries, run_at",
            &[&kinds, &now.as_micros(), &now.plus(lease).as_micros(), &(limit as i64)],
        )?;
        Ok(jobs_of(&rows, 0))
    }

    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.before_write()?;
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let rows = self.cached_query(
            "DELETE FROM jobs
             WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2
                          ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, tries, run_at",
            &[&kinds, &now.as_micros(), &(limit as i64)],
        )?;
        Ok(jobs_of(&rows, 1))
    }

    fn insert_leased_job(
        &mut self,
        kind: &str,
        payload: &str,
        run_at: Timestamp,
        now: Timestamp,
        _leased_until: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        // Learning the id would cost a round trip per job; the job goes out with the batch, unleased.
        self.insert_job(kind, payload, run_at, now)?;
        Ok(None)
    }

    fn delete_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.hold(DELETE_JOB, Some(id.to_string()), vec![id.into()])
    }

    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError> {
        self.hold(RESCHEDULE_JOB, Some(id.to_string()), vec![id.into(), run_at.as_micros().into()])
    }

    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE jobs SET run_at = $2, locked_until = 0, tries = GREATEST(tries - 1, 0) WHERE id = $1",
            &[&id, &run_at.as_micros()],
        )?;
        Ok(())
    }

    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool, StoreError> {
        self.before_read("jobs", None, false)?;
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        // One index probe per kind. The plain form (`kind = ANY($1) … LIMIT 1`) gets a generic plan that
        // scans the whole table, expecting an early match: with every timer in the future, each look
        // read every row (measured: most of PostgreSQL's time under create+confirm load).
        let row = self.cached_query_opt(
            "SELECT 1 FROM unnest($1::text[]) AS k(kind)
             CROSS JOIN LATERAL (SELECT 1 FROM jobs j WHERE j.kind = k.kind AND j.run_at <= $2
                                 AND j.locked_until <= $2 ORDER BY j.run_at LIMIT 1) due
             LIMIT 1",
            &[&kinds, &now.as_micros()],
        )?;
        Ok(row.is_some())
    }

    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64), StoreError> {
        self.before_read("jobs", None, false)?;
        let r = self.cached_query_one(
            "SELECT count(*) FILTER (WHERE run_at <= $1 AND locked_until <= $1),
                    count(*) FILTER (WHERE locked_until > $1),
                    count(*) FILTER (WHERE run_at > $1 AND locked_until <= $1) FROM jobs",
            &[&now.as_micros()],
        )?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>, StoreError> {
        self.doc("events", scope, id, false)
    }

    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>, StoreError> {
        self.before_read("events", Some(id), false)?;
        let Some(r) = self.cached_query_opt("SELECT account_id, mode, data FROM events WHERE id = $1", &[&id])? else {
            return Ok(None);
        };
        let data: String = r.get(2);
        let event: Event = serde_json::from_str(&data)?;
        Ok(Some((Scope { account_id: r.get(0), mode: mode_of(r.get(1))? }, event, data)))
    }

    fn list_events(
        &mut self,
        scope: &Scope,
        object_id: Option<&str>,
        kind: Option<EventType>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Event>>, StoreError> {
        let Some(cursor) = self.cursor("events", scope, starting_after)? else { return Ok(None) };
        let kind = kind.map(EventType::as_str);
        let page = self.page(
            "events",
            "SELECT data FROM events WHERE account_id = $1 AND mode = $2 AND seq < $3
               AND ($4::TEXT IS NULL OR object_id = $4) AND ($5::TEXT IS NULL OR type = $5)
             ORDER BY seq DESC LIMIT $6",
            &[&scope.account_id, &scope.mode.as_str(), &cursor, &object_id, &kind, &((limit + 1) as i64)],
            limit,
        )?;
        Ok(Some(page))
    }

    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<(), StoreError> {
        self.hold(
            INSERT_DELIVERY,
            None,
            vec![
                d.event.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                serde_json::to_string(d)?.into(),
            ],
        )
    }

    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.docs(
            "deliveries",
            "SELECT data FROM deliveries WHERE event_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&event_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.before_read("accounts", None, false)?;
        let Some(r) = self.cached_query_opt(
            "SELECT id, webhook_secret, previous_webhook_secret, previous_secret_until, event_types
             FROM accounts WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let prev: Option<String> = r.get(2);
        let until: Option<i64> = r.get(3);
        let types: String = r.get(4);
        Ok(Some(AccountRecord {
            id: r.get(0),
            webhook_secret: r.get(1),
            previous_webhook_secret: prev.zip(until.map(Timestamp::from_micros)),
            event_types: serde_json::from_str(&types)?,
        }))
    }

    fn set_webhook_secret(
        &mut self,
        id: &str,
        secret: &str,
        previous: Option<(&str, Timestamp)>,
    ) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE accounts SET webhook_secret = $2, previous_webhook_secret = $3, previous_secret_until = $4 WHERE id = $1",
            &[&id, &secret, &previous.map(|p| p.0), &previous.map(|p| p.1.as_micros())],
        )?;
        Ok(())
    }

    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool, StoreError> {
        self.before_write()?;
        // Waits for a transaction that set it first, then finds it set.
        let n = self.cached_execute(
            "UPDATE accounts SET webhook_secret = $2 WHERE id = $1 AND webhook_secret IS NULL",
            &[&id, &secret],
        )?;
        Ok(n == 1)
    }

    fn set_event_types(&mut self, id: &str, types: &BTreeMap<String, bool>) -> Result<(), StoreError> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE accounts SET event_types = $2 WHERE id = $1",
            &[&id, &serde_json::to_string(types)?],
        )?;
        Ok(())
    }

    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>, StoreError> {
        self.doc("refunds", scope, id, false)
    }

    fn insert_refund(&mut self, scope: &Scope, r: &Refund) -> Result<(), StoreError> {
        // Its conflict (a payin already refunded) is the caller's answer: it goes out at once.
        self.before_write()?;
        self.cached_execute(
            "INSERT INTO refunds (id, payin_id, account_id, mode, status, created_at, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &r.id,
                &r.payin,
                &scope.account_id,
                &scope.mode.as_str(),
                &r.status.as_str(),
                &r.created_at.as_micros(),
                &serde_json::to_string(r)?,
            ],
        )?;
        Ok(())
    }

    fn update_refund(&mut self, r: &Refund) -> Result<(), StoreError> {
        self.hold_update(UPDATE_REFUND, &r.id, r.status.as_str(), serde_json::to_string(r)?)
    }

    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>, StoreError> {
        self.docs(
            "refunds",
            "SELECT data FROM refunds WHERE payin_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&payin_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn list_refunds(
        &mut self,
        scope: &Scope,
        payin_id: Option<&str>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Refund>>, StoreError> {
        let Some(cursor) = self.cursor("refunds", scope, starting_after)? else { return Ok(None) };
        let page = self.page(
            "refunds",
            "SELECT data FROM refunds WHERE account_id = $1 AND mode = $2 AND seq < $3
               AND ($4::TEXT IS NULL OR payin_id = $4) ORDER BY seq DESC LIMIT $5",
            &[&scope.account_id, &scope.mode.as_str(), &cursor, &payin_id, &((limit + 1) as i64)],
            limit,
        )?;
        Ok(Some(page))
    }
}
