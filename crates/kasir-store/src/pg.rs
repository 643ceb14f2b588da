//! The PostgreSQL backend: a pool of connections, each write one transaction, rows locked in one order.
//!
//! Many `kasir serve` processes may share one database. Concurrency is the database's: a payin's row
//! lock orders every change to it, unique indexes hold the invariants, jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`, and idempotency keys are claimed with an atomic insert. Concurrent
//! connections give group commit for free.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kasir_domain::{Customer, Delivery, Event, EventType, Mode, Payin, PayinStatus, PaymentAttempt, Refund, Timestamp};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::pg_schema::MIGRATIONS;
use crate::tx::{AccountRecord, IdemRecord, IdemState, Job, KeyRecord, Page, Tx, TABLES};
use crate::{Scope, StoreError};

/// Connections held open when idle.
const MAX_IDLE: usize = 64;

/// A pooled connection and the statements prepared on it.
type Pooled = (Client, HashMap<String, Statement>);

#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: postgres::Config,
    display: String,
    idle: Mutex<Vec<Pooled>>,
    permits: Semaphore,
}

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
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                display: redact(url),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(pool_size.max(1)),
            }),
        };
        // The blocking client may not run on an async runtime's thread; open from any caller.
        let me = store.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut client = me.connect()?;
                    migrate(&mut client)?;
                    me.give_back((client, HashMap::new()));
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
            _ => Ok((self.connect()?, HashMap::new())),
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

    /// Runs `op` in one transaction on a pooled connection, on the calling (blocking) thread.
    fn run<T, E, F>(&self, write: bool, op: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let (mut client, mut stmts) = self.take()?;
        let result = (|| {
            let mut txn = client.transaction().map_err(StoreError::from)?;
            if !write {
                txn.batch_execute("SET TRANSACTION READ ONLY").map_err(StoreError::from)?;
            }
            let out = op(&mut PgTx { txn: &mut txn, stmts: &mut stmts, lock: write });
            match out {
                Ok(v) => {
                    txn.commit().map_err(StoreError::from)?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = txn.rollback();
                    Err(e)
                }
            }
        })();
        self.give_back((client, stmts));
        result
    }

    async fn run_async<T, E, F>(&self, write: bool, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let _permit = self.inner.permits.acquire().await.map_err(|_| StoreError::Unavailable("pool closed".into()))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.run(write, op))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a database call panicked".into()).into()))
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
        self.run(true, op)
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

struct PgTx<'a, 'b> {
    txn: &'a mut postgres::Transaction<'b>,
    stmts: &'a mut HashMap<String, Statement>,
    /// Whether this is a write transaction (payin reads then lock the row).
    lock: bool,
}

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

fn status_str<S: serde::Serialize>(s: &S) -> Result<String, StoreError> {
    match serde_json::to_value(s)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Corrupt(format!("status is not a string: {other}"))),
    }
}

impl PgTx<'_, '_> {
    /// The prepared statement for `sql` on this connection, prepared on first use: one round trip per
    /// statement after that, and no planning from scratch.
    fn stmt(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.txn.prepare(sql)?;
        self.stmts.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    fn cached_execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.txn.execute(&st, params)?)
    }

    fn cached_query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.txn.query(&st, params)?)
    }

    fn cached_query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.txn.query_opt(&st, params)?)
    }

    fn cached_query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.txn.query_one(&st, params)?)
    }

    fn doc<T: DeserializeOwned>(
        &mut self,
        table: &str,
        scope: &Scope,
        id: &str,
        lock: bool,
    ) -> Result<Option<T>, StoreError> {
        let sql = format!(
            "SELECT data FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    fn docs<T: DeserializeOwned>(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<T>, StoreError> {
        self.cached_query(sql, params)?.into_iter().map(|r| decode(r.get(0))).collect()
    }

    /// The `seq` of a listed object, for cursors; `None` when it is not this scope's.
    fn cursor(&mut self, table: &str, scope: &Scope, after: Option<&str>) -> Result<Option<i64>, StoreError> {
        match after {
            None => Ok(Some(i64::MAX)),
            Some(id) => {
                let sql = format!("SELECT seq FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3");
                Ok(self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?.map(|r| r.get(0)))
            }
        }
    }

    fn page<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let mut data: Vec<T> = self.docs(sql, params)?;
        let has_more = data.len() > limit;
        data.truncate(limit);
        Ok(Page { data, has_more })
    }
}

impl Tx for PgTx<'_, '_> {
    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>, StoreError> {
        let lock = self.lock;
        self.doc("payins", scope, id, lock)
    }

    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>, StoreError> {
        let row = self.cached_query_opt(
            "SELECT data FROM payins WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&id, &scope.account_id, &scope.mode.as_str()],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_payin(&mut self, scope: &Scope, p: &Payin) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO payins (id, account_id, mode, status, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &p.id,
                &scope.account_id,
                &scope.mode.as_str(),
                &p.status.as_str(),
                &p.created_at.as_micros(),
                &serde_json::to_string(p)?,
            ],
        )?;
        Ok(())
    }

    fn update_payin(&mut self, p: &Payin) -> Result<(), StoreError> {
        let n = self.cached_execute(
            "UPDATE payins SET status = $2, data = $3 WHERE id = $1",
            &[&p.id, &p.status.as_str(), &serde_json::to_string(p)?],
        )?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!("payin {} vanished during an update", p.id)));
        }
        Ok(())
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
        self.cached_execute(
            "INSERT INTO payment_attempts (id, payin_id, account_id, mode, status, created_at, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &a.id,
                &a.payin,
                &scope.account_id,
                &scope.mode.as_str(),
                &status_str(&a.status)?,
                &a.created_at.as_micros(),
                &serde_json::to_string(a)?,
            ],
        )?;
        Ok(())
    }

    fn update_attempt(&mut self, a: &PaymentAttempt) -> Result<(), StoreError> {
        self.cached_execute(
            "UPDATE payment_attempts SET status = $2, data = $3 WHERE id = $1",
            &[&a.id, &status_str(&a.status)?, &serde_json::to_string(a)?],
        )?;
        Ok(())
    }

    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>, StoreError> {
        self.doc("customers", scope, id, false)
    }

    fn insert_customer(&mut self, scope: &Scope, c: &Customer) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO customers (id, account_id, mode, created_at, data) VALUES ($1, $2, $3, $4, $5)",
            &[&c.id, &scope.account_id, &scope.mode.as_str(), &c.created_at.as_micros(), &serde_json::to_string(c)?],
        )?;
        Ok(())
    }

    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<(), StoreError> {
        for e in events {
            self.cached_execute(
                "INSERT INTO events (id, account_id, mode, type, object_id, created_at, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &e.id,
                    &scope.account_id,
                    &scope.mode.as_str(),
                    &e.kind.as_str(),
                    &e.object_id().as_str(),
                    &e.created_at.as_micros(),
                    &serde_json::to_string(e)?,
                ],
            )?;
        }
        Ok(())
    }

    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>, StoreError> {
        self.docs(
            "SELECT data FROM events WHERE account_id = $1 AND mode = $2 AND object_id = $3 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str(), &object_id],
        )
    }

    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            &[&id, &name, &now.as_micros()],
        )?;
        Ok(())
    }

    fn first_account(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.cached_query_opt("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1", &[])?.map(|r| r.get(0)))
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO api_keys (access_key, secret_hash, account_id, mode, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&k.access_key, &k.secret_hash, &k.account_id, &k.mode.as_str(), &k.created_at.as_micros()],
        )?;
        Ok(())
    }

    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = self.cached_query_opt(
            "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys WHERE access_key = $1",
            &[&access_key],
        )?;
        row.map(|r| key_row(&r)).transpose()
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        self.cached_query(
                "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys ORDER BY created_at, access_key",
                &[],
            )?
            .iter()
            .map(key_row)
            .collect()
    }

    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        let sql = format!(
            "SELECT request_hash, state, response_status, response_body, created_at, locked_until
             FROM idempotency_keys WHERE access_key = $1 AND key = $2{}",
            if self.lock { " FOR UPDATE" } else { "" }
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
        self.cached_execute(
            "INSERT INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (access_key, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
               state = EXCLUDED.state, response_status = EXCLUDED.response_status,
               response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at,
               locked_until = EXCLUDED.locked_until",
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
        Ok(())
    }

    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool, StoreError> {
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

    fn idem_delete(&mut self, access_key: &str, key: &str) -> Result<(), StoreError> {
        self.cached_execute("DELETE FROM idempotency_keys WHERE access_key = $1 AND key = $2", &[&access_key, &key])?;
        Ok(())
    }

    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        TABLES
            .iter()
            .map(|t| {
                let n: i64 = self.cached_query_one(&format!("SELECT count(*) FROM {t}"), &[])?.get(0);
                Ok((*t, n))
            })
            .collect()
    }

    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ($1, $2, $3, $4)",
            &[&kind, &payload, &run_at.as_micros(), &now.as_micros()],
        )?;
        Ok(())
    }

    fn claim_jobs(
        &mut self,
        kinds: &[&str],
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let rows = self.cached_query(
            "UPDATE jobs SET locked_until = $3, tries = tries + 1
             WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2
                          ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, tries, run_at",
            &[&kinds, &now.as_micros(), &now.plus(lease).as_micros(), &(limit as i64)],
        )?;
        let mut jobs: Vec<Job> = rows
            .iter()
            .map(|r| Job {
                id: r.get(0),
                kind: r.get(1),
                payload: r.get(2),
                tries: r.get::<_, i32>(3) as u32,
                run_at: Timestamp::from_micros(r.get(4)),
            })
            .collect();
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    fn delete_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.cached_execute("DELETE FROM jobs WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError> {
        self.cached_execute(
            "UPDATE jobs SET run_at = $2, locked_until = 0 WHERE id = $1",
            &[&id, &run_at.as_micros()],
        )?;
        Ok(())
    }

    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let row = self.cached_query_opt(
            "SELECT 1 FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2 LIMIT 1",
            &[&kinds, &now.as_micros()],
        )?;
        Ok(row.is_some())
    }

    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64), StoreError> {
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
            "SELECT data FROM events WHERE account_id = $1 AND mode = $2 AND seq < $3
               AND ($4::TEXT IS NULL OR object_id = $4) AND ($5::TEXT IS NULL OR type = $5)
             ORDER BY seq DESC LIMIT $6",
            &[&scope.account_id, &scope.mode.as_str(), &cursor, &object_id, &kind, &((limit + 1) as i64)],
            limit,
        )?;
        Ok(Some(page))
    }

    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<(), StoreError> {
        self.cached_execute(
            "INSERT INTO deliveries (event_id, account_id, mode, data) VALUES ($1, $2, $3, $4)",
            &[&d.event, &scope.account_id, &scope.mode.as_str(), &serde_json::to_string(d)?],
        )?;
        Ok(())
    }

    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.docs(
            "SELECT data FROM deliveries WHERE event_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&event_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
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
        self.cached_execute(
            "UPDATE accounts SET webhook_secret = $2, previous_webhook_secret = $3, previous_secret_until = $4 WHERE id = $1",
            &[&id, &secret, &previous.map(|p| p.0), &previous.map(|p| p.1.as_micros())],
        )?;
        Ok(())
    }

    fn set_event_types(&mut self, id: &str, types: &BTreeMap<String, bool>) -> Result<(), StoreError> {
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
        self.cached_execute(
            "UPDATE refunds SET status = $2, data = $3 WHERE id = $1",
            &[&r.id, &r.status.as_str(), &serde_json::to_string(r)?],
        )?;
        Ok(())
    }

    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>, StoreError> {
        self.docs(
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
            "SELECT data FROM refunds WHERE account_id = $1 AND mode = $2 AND seq < $3
               AND ($4::TEXT IS NULL OR payin_id = $4) ORDER BY seq DESC LIMIT $5",
            &[&scope.account_id, &scope.mode.as_str(), &cursor, &payin_id, &((limit + 1) as i64)],
            limit,
        )?;
        Ok(Some(page))
    }
}
