//! The operations a transaction offers. Writes and reads share the trait; the backend decides locking.

use std::collections::BTreeMap;
use std::time::Duration;

use kasir_domain::{Customer, Delivery, Event, EventType, Mode, Payin, PayinStatus, PaymentAttempt, Refund, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;

use crate::doc_cache::WrittenDoc;
use crate::{Scope, StoreError};

/// One page of a newest-first list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// An API key as stored: the secret only as a hash.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub access_key: String,
    pub secret_hash: String,
    pub account_id: String,
    pub mode: Mode,
    pub created_at: Timestamp,
}

/// A job claimed by a worker: it holds a lease until done, rescheduled or the lease lapses.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Tries so far, this one included.
    pub tries: u32,
    pub run_at: Timestamp,
}

/// An account's webhook settings.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: String,
    pub webhook_secret: Option<String>,
    pub previous_webhook_secret: Option<(String, Timestamp)>,
    /// Overrides of the default on/off per event type.
    pub event_types: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdemState {
    Running,
    Done,
}

#[derive(Debug, Clone)]
pub struct IdemRecord {
    pub request_hash: String,
    pub state: IdemState,
    pub response_status: u16,
    pub response_body: Vec<u8>,
    pub created_at: Timestamp,
    pub locked_until: Timestamp,
}

/// What a transaction can do. Every method works on the caller's [`Scope`]: an object of another
/// account or mode does not exist.
pub trait Tx {
    /// Whether no other transaction can change data while this one runs (SQLite's single writer), so
    /// a row read once needs no second read under a lock.
    fn runs_alone(&self) -> bool {
        false
    }

    /// A count of the writes this transaction has made, which only grows: a step that failed with it
    /// unchanged changed nothing, so the transaction can go on without it.
    fn writes(&self) -> u64;

    /// In a write transaction, also locks the payin until commit (PostgreSQL: `FOR UPDATE`; SQLite has
    /// one writer). Changes to a payin's attempts and refunds take this lock first.
    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>, StoreError>;
    /// The payin's stored JSON, exactly the wire object, without decoding it.
    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>, StoreError>;
    fn insert_payin(&mut self, scope: &Scope, payin: &Payin) -> Result<(), StoreError>;
    fn update_payin(&mut self, payin: &Payin) -> Result<(), StoreError>;
    fn list_payins(
        &mut self,
        scope: &Scope,
        status: Option<PayinStatus>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Payin>>, StoreError>;

    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>, StoreError>;
    fn insert_attempt(&mut self, scope: &Scope, attempt: &PaymentAttempt) -> Result<(), StoreError>;
    fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), StoreError>;

    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>, StoreError>;
    fn insert_customer(&mut self, scope: &Scope, customer: &Customer) -> Result<(), StoreError>;

    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<(), StoreError>;
    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>, StoreError>;

    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<(), StoreError>;
    fn first_account(&mut self) -> Result<Option<String>, StoreError>;
    fn insert_key(&mut self, key: &KeyRecord) -> Result<(), StoreError>;
    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>, StoreError>;
    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError>;

    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>, StoreError>;
    /// Inserts or replaces the record for (access_key, key).
    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<(), StoreError>;
    /// Inserts the record unless (access_key, key) exists; returns whether it inserted. Atomic: of two
    /// concurrent claims of one key, exactly one inserts.
    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool, StoreError>;
    /// Releases a claim whose write failed: deletes the record only while it is still that claim
    /// (`running`, with the lease the claim set). A record the write stored as done (its commit went
    /// through though its caller heard an error) stays, to be replayed; so does a later claim that
    /// took the key over.
    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<(), StoreError>;

    /// Row counts of every table, for operators and for tests that check nothing was written.
    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>, StoreError>;

    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<(), StoreError>;
    /// Takes up to `limit` due, unleased jobs of these kinds, leases them for `lease` and counts the try.
    fn claim_jobs(
        &mut self,
        kinds: &[&str],
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError>;
    /// Removes and returns up to `limit` due, unleased jobs of these kinds, oldest first: for work done
    /// in this same transaction, so they are back if it rolls back.
    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// Inserts a job already leased until `leased_until` with its first try counted, and returns its id,
    /// when the backend learns the id without a round trip (SQLite). Otherwise (PostgreSQL, whose
    /// inserts wait to go out together) it schedules the job unleased and returns `None`.
    fn insert_leased_job(
        &mut self,
        kind: &str,
        payload: &str,
        run_at: Timestamp,
        now: Timestamp,
        leased_until: Timestamp,
    ) -> Result<Option<i64>, StoreError>;
    fn delete_job(&mut self, id: i64) -> Result<(), StoreError>;
    /// Releases the lease and sets when the job runs next.
    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError>;
    /// Puts a claimed job back untried: releases the lease, sets when it runs next, and takes back the
    /// try its claim counted.
    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError>;
    /// Whether a job of these kinds is due and unleased at `now`.
    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool, StoreError>;
    /// Jobs by state at `now`: (due and waiting, leased by a worker, scheduled for later).
    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64), StoreError>;

    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>, StoreError>;
    /// The event, its scope and its stored JSON: exactly the bytes a webhook carries.
    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>, StoreError>;
    fn list_events(
        &mut self,
        scope: &Scope,
        object_id: Option<&str>,
        kind: Option<EventType>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Event>>, StoreError>;
    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<(), StoreError>;
    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>, StoreError>;

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>, StoreError>;
    fn set_webhook_secret(
        &mut self,
        id: &str,
        secret: &str,
        previous: Option<(&str, Timestamp)>,
    ) -> Result<(), StoreError>;
    /// Sets the account's first signing secret unless it has one; returns whether it did. Of two
    /// transactions that both found none (two processes on PostgreSQL), one sets it and the other
    /// then reads it, so every webhook is signed with the secret the merchant is shown.
    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool, StoreError>;
    fn set_event_types(&mut self, id: &str, types: &BTreeMap<String, bool>) -> Result<(), StoreError>;

    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>, StoreError>;
    fn insert_refund(&mut self, scope: &Scope, refund: &Refund) -> Result<(), StoreError>;
    fn update_refund(&mut self, refund: &Refund) -> Result<(), StoreError>;
    /// Refunds of one payin, oldest first.
    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>, StoreError>;
    fn list_refunds(
        &mut self,
        scope: &Scope,
        payin_id: Option<&str>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Refund>>, StoreError>;
}

/// Every table, in the order `row_counts` reports them.
pub const TABLES: [&str; 10] = [
    "accounts",
    "api_keys",
    "payins",
    "payment_attempts",
    "customers",
    "events",
    "idempotency_keys",
    "jobs",
    "deliveries",
    "refunds",
];

/// The SQLite implementation, over either the writer's transaction or a reader's connection.
pub(crate) struct SqliteTx<'c> {
    pub(crate) conn: &'c Connection,
    /// The payin documents this transaction wrote, kept for the document cache when there is one.
    pub(crate) written: Option<Vec<WrittenDoc>>,
}

fn decode<T: DeserializeOwned>(s: String) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&s)?)
}

fn constraint(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(msg.unwrap_or_default())
        }
        other => StoreError::Db(other),
    }
}

/// A page from `limit + 1` rows: the extra row only says whether more follow.
fn page<T: DeserializeOwned>(rows: Vec<String>, limit: usize) -> Result<Page<T>, StoreError> {
    let has_more = rows.len() > limit;
    let data = rows.into_iter().take(limit).map(decode).collect::<Result<Vec<T>, _>>()?;
    Ok(Page { data, has_more })
}

impl SqliteTx<'_> {
    /// The `seq` after which a list continues: the end for no cursor, `None` for a cursor that is not
    /// this scope's.
    fn cursor(&self, table: &str, scope: &Scope, after: Option<&str>) -> Result<Option<i64>, StoreError> {
        let Some(id) = after else { return Ok(Some(i64::MAX)) };
        let sql = format!("SELECT seq FROM {table} WHERE id = ?1 AND account_id = ?2 AND mode = ?3");
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?)
    }

    /// Up to `limit` due, unleased jobs of these kinds, kind by kind, oldest first; `tries` counts the
    /// try about to be made.
    fn due_jobs(&self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for kind in kinds {
            if jobs.len() >= limit {
                break;
            }
            let mut st = self.conn.prepare_cached(
                "SELECT id, kind, payload, tries, run_at FROM jobs
                 WHERE kind = ?1 AND run_at <= ?2 AND locked_until <= ?2 ORDER BY run_at LIMIT ?3",
            )?;
            let rows = st.query_map(params![kind, now.as_micros(), (limit - jobs.len()) as i64], |r| {
                Ok(Job {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    tries: r.get::<_, u32>(3)? + 1,
                    run_at: Timestamp::from_micros(r.get(4)?),
                })
            })?;
            for j in rows {
                jobs.push(j?);
            }
        }
        Ok(jobs)
    }

    fn get_doc<T: DeserializeOwned>(&self, table: &str, scope: &Scope, id: &str) -> Result<Option<T>, StoreError> {
        let sql = format!("SELECT data FROM {table} WHERE id = ?1 AND account_id = ?2 AND mode = ?3");
        let mut st = self.conn.prepare_cached(&sql)?;
        let row: Option<String> =
            st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?;
        row.map(decode).transpose()
    }
}

impl Tx for SqliteTx<'_> {
    fn runs_alone(&self) -> bool {
        true // the writer's transactions run one at a time; readers never call this
    }

    fn writes(&self) -> u64 {
        self.conn.total_changes()
    }

    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>, StoreError> {
        self.get_doc("payins", scope, id)
    }

    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>, StoreError> {
        let mut st =
            self.conn.prepare_cached("SELECT data FROM payins WHERE id = ?1 AND account_id = ?2 AND mode = ?3")?;
        Ok(st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?)
    }

    fn insert_payin(&mut self, scope: &Scope, p: &Payin) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO payins (id, account_id, mode, status, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let data = serde_json::to_string(p)?;
        st.execute(params![
            p.id,
            scope.account_id,
            scope.mode.as_str(),
            p.status.as_str(),
            p.created_at.as_micros(),
            data
        ])
        .map_err(constraint)?;
        if let Some(w) = &mut self.written {
            w.push(WrittenDoc { id: p.id.clone(), scope: Some((scope.account_id.clone(), scope.mode)), data });
        }
        Ok(())
    }

    fn update_payin(&mut self, p: &Payin) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached("UPDATE payins SET status = ?2, data = ?3 WHERE id = ?1")?;
        let data = serde_json::to_string(p)?;
        let n = st.execute(params![p.id, p.status.as_str(), data])?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!("payin {} vanished during an update", p.id)));
        }
        if let Some(w) = &mut self.written {
            w.push(WrittenDoc { id: p.id.clone(), scope: None, data });
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
        let fetch = (limit + 1) as i64;
        let rows: Vec<String> = match status {
            Some(s) => {
                let mut st = self.conn.prepare_cached(
                    "SELECT data FROM payins WHERE account_id = ?1 AND mode = ?2 AND status = ?3 AND seq < ?4
                     ORDER BY seq DESC LIMIT ?5",
                )?;
                let it = st
                    .query_map(params![scope.account_id, scope.mode.as_str(), s.as_str(), cursor, fetch], |r| {
                        r.get(0)
                    })?;
                it.collect::<Result<_, _>>()?
            }
            None => {
                let mut st = self.conn.prepare_cached(
                    "SELECT data FROM payins WHERE account_id = ?1 AND mode = ?2 AND seq < ?3
                     ORDER BY seq DESC LIMIT ?4",
                )?;
                let it = st.query_map(params![scope.account_id, scope.mode.as_str(), cursor, fetch], |r| r.get(0))?;
                it.collect::<Result<_, _>>()?
            }
        };
        Ok(Some(page(rows, limit)?))
    }

    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>, StoreError> {
        self.get_doc("payment_attempts", scope, id)
    }

    fn insert_attempt(&mut self, scope: &Scope, a: &PaymentAttempt) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO payment_attempts (id, payin_id, account_id, mode, status, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            a.id,
            a.payin,
            scope.account_id,
            scope.mode.as_str(),
            status_str(&a.status)?,
            a.created_at.as_micros(),
            serde_json::to_string(a)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn update_attempt(&mut self, a: &PaymentAttempt) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached("UPDATE payment_attempts SET status = ?2, data = ?3 WHERE id = ?1")?;
        st.execute(params![a.id, status_str(&a.status)?, serde_json::to_string(a)?]).map_err(constraint)?;
        Ok(())
    }

    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>, StoreError> {
        self.get_doc("customers", scope, id)
    }

    fn insert_customer(&mut self, scope: &Scope, c: &Customer) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO customers (id, account_id, mode, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        st.execute(params![
            c.id,
            scope.account_id,
            scope.mode.as_str(),
            c.created_at.as_micros(),
            serde_json::to_string(c)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO events (id, account_id, mode, type, object_id, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in events {
            st.execute(params![
                e.id,
                scope.account_id,
                scope.mode.as_str(),
                e.kind.as_str(),
                e.object_id(),
                e.created_at.as_micros(),
                serde_json::to_string(e)?
            ])?;
        }
        Ok(())
    }

    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM events WHERE account_id = ?1 AND mode = ?2 AND object_id = ?3 ORDER BY seq",
        )?;
        let rows: Vec<String> = st
            .query_map(params![scope.account_id, scope.mode.as_str(), object_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, now.as_micros()],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn first_account(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM accounts ORDER BY created_at, id LIMIT 1", [], |r| r.get(0))
            .optional()?)
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO api_keys (access_key, secret_hash, account_id, mode, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![k.access_key, k.secret_hash, k.account_id, k.mode.as_str(), k.created_at.as_micros()],
            )
            .map_err(constraint)?;
        Ok(())
    }

    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys WHERE access_key = ?1",
        )?;
        st.query_row(params![access_key], key_row).optional()?.transpose()
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT access_key, secret_hash, account_id, mode, created_at FROM api_keys ORDER BY created_at, access_key",
        )?;
        let rows = st.query_map([], key_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT request_hash, state, response_status, response_body, created_at, locked_until
             FROM idempotency_keys WHERE access_key = ?1 AND key = ?2",
        )?;
        let rec = st
            .query_row(params![access_key, key], |r| {
                let state: String = r.get(1)?;
                Ok(IdemRecord {
                    request_hash: r.get(0)?,
                    state: if state == "done" { IdemState::Done } else { IdemState::Running },
                    response_status: r.get::<_, Option<u16>>(2)?.unwrap_or(0),
                    response_body: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                    created_at: Timestamp::from_micros(r.get(4)?),
                    locked_until: Timestamp::from_micros(r.get(5)?),
                })
            })
            .optional()?;
        Ok(rec)
    }

    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        st.execute(params![
            access_key,
            key,
            rec.request_hash,
            if rec.state == IdemState::Done { "done" } else { "running" },
            rec.response_status,
            rec.response_body,
            rec.created_at.as_micros(),
            rec.locked_until.as_micros()
        ])?;
        Ok(())
    }

    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool, StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO idempotency_keys
             (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let n = st.execute(params![
            access_key,
            key,
            rec.request_hash,
            if rec.state == IdemState::Done { "done" } else { "running" },
            rec.response_status,
            rec.response_body,
            rec.created_at.as_micros(),
            rec.locked_until.as_micros()
        ])?;
        Ok(n == 1)
    }

    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "DELETE FROM idempotency_keys
             WHERE access_key = ?1 AND key = ?2 AND state = 'running' AND locked_until = ?3",
        )?;
        st.execute(params![access_key, key, lease.as_micros()])?;
        Ok(())
    }

    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        TABLES
            .iter()
            .map(|t| {
                let n: i64 = self.conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
                Ok((*t, n))
            })
            .collect()
    }

    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<(), StoreError> {
        let mut st =
            self.conn.prepare_cached("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        st.execute(params![kind, payload, run_at.as_micros(), now.as_micros()])?;
        Ok(())
    }

    fn claim_jobs(
        &mut self,
        kinds: &[&str],
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        // The writer is the only writer, so select-then-update cannot hand one job to two workers.
        let jobs = self.due_jobs(kinds, now, limit)?;
        let until = now.plus(lease).as_micros();
        let mut up = self.conn.prepare_cached("UPDATE jobs SET locked_until = ?2, tries = tries + 1 WHERE id = ?1")?;
        for j in &jobs {
            up.execute(params![j.id, until])?;
        }
        Ok(jobs)
    }

    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>, StoreError> {
        let jobs = self.due_jobs(kinds, now, limit)?;
        for j in &jobs {
            self.delete_job(j.id)?;
        }
        Ok(jobs)
    }

    fn insert_leased_job(
        &mut self,
        kind: &str,
        payload: &str,
        run_at: Timestamp,
        now: Timestamp,
        leased_until: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO jobs (kind, payload, run_at, created_at, locked_until, tries) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
        )?;
        st.execute(params![kind, payload, run_at.as_micros(), now.as_micros(), leased_until.as_micros()])?;
        Ok(Some(self.conn.last_insert_rowid()))
    }

    fn delete_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")?.execute(params![id])?;
        Ok(())
    }

    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE jobs SET run_at = ?2, locked_until = 0 WHERE id = ?1")?
            .execute(params![id, run_at.as_micros()])?;
        Ok(())
    }

    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE jobs SET run_at = ?2, locked_until = 0, tries = max(tries - 1, 0) WHERE id = ?1",
            params![id, run_at.as_micros()],
        )?;
        Ok(())
    }

    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool, StoreError> {
        for kind in kinds {
            // An index range scan on (kind, run_at): cheap however many jobs wait for later.
            let mut st = self
                .conn
                .prepare_cached("SELECT 1 FROM jobs WHERE kind = ?1 AND run_at <= ?2 AND locked_until <= ?2 LIMIT 1")?;
            if st.exists(params![kind, now.as_micros()])? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64), StoreError> {
        let now = now.as_micros();
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(run_at <= ?1 AND locked_until <= ?1), 0),
                    coalesce(sum(locked_until > ?1), 0),
                    coalesce(sum(run_at > ?1 AND locked_until <= ?1), 0) FROM jobs",
            params![now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>, StoreError> {
        self.get_doc("events", scope, id)
    }

    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT account_id, mode, data FROM events WHERE id = ?1")?;
        let row: Option<(String, String, String)> =
            st.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
        let Some((account_id, mode, data)) = row else { return Ok(None) };
        let mode = Mode::parse(&mode).ok_or_else(|| StoreError::Corrupt(format!("event mode {mode}")))?;
        let event: Event = serde_json::from_str(&data)?;
        Ok(Some((Scope { account_id, mode }, event, data)))
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
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM events WHERE account_id = ?1 AND mode = ?2 AND seq < ?3
               AND (?4 IS NULL OR object_id = ?4) AND (?5 IS NULL OR type = ?5)
             ORDER BY seq DESC LIMIT ?6",
        )?;
        let rows: Vec<String> = st
            .query_map(
                params![
                    scope.account_id,
                    scope.mode.as_str(),
                    cursor,
                    object_id,
                    kind.map(EventType::as_str),
                    (limit + 1) as i64
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(Some(page(rows, limit)?))
    }

    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO deliveries (event_id, account_id, mode, data) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![d.event, scope.account_id, scope.mode.as_str(), serde_json::to_string(d)?])?;
        Ok(())
    }

    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM deliveries WHERE event_id = ?1 AND account_id = ?2 AND mode = ?3 ORDER BY seq",
        )?;
        let rows: Vec<String> = st
            .query_map(params![event_id, scope.account_id, scope.mode.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, webhook_secret, previous_webhook_secret, previous_secret_until, event_types
             FROM accounts WHERE id = ?1",
        )?;
        let row = st
            .query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        let Some((id, secret, prev, until, types)) = row else { return Ok(None) };
        Ok(Some(AccountRecord {
            id,
            webhook_secret: secret,
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
        self.conn.execute(
            "UPDATE accounts SET webhook_secret = ?2, previous_webhook_secret = ?3, previous_secret_until = ?4
             WHERE id = ?1",
            params![id, secret, previous.map(|p| p.0), previous.map(|p| p.1.as_micros())],
        )?;
        Ok(())
    }

    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE accounts SET webhook_secret = ?2 WHERE id = ?1 AND webhook_secret IS NULL",
            params![id, secret],
        )?;
        Ok(n == 1)
    }

    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>, StoreError> {
        self.get_doc("refunds", scope, id)
    }

    fn insert_refund(&mut self, scope: &Scope, r: &Refund) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO refunds (id, payin_id, account_id, mode, status, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(params![
            r.id,
            r.payin,
            scope.account_id,
            scope.mode.as_str(),
            r.status.as_str(),
            r.created_at.as_micros(),
            serde_json::to_string(r)?
        ])
        .map_err(constraint)?;
        Ok(())
    }

    fn update_refund(&mut self, r: &Refund) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE refunds SET status = ?2, data = ?3 WHERE id = ?1")?
            .execute(params![r.id, r.status.as_str(), serde_json::to_string(r)?])
            .map_err(constraint)?;
        Ok(())
    }

    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM refunds WHERE payin_id = ?1 AND account_id = ?2 AND mode = ?3 ORDER BY seq",
        )?;
        let rows: Vec<String> = st
            .query_map(params![payin_id, scope.account_id, scope.mode.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    fn list_refunds(
        &mut self,
        scope: &Scope,
        payin_id: Option<&str>,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<Option<Page<Refund>>, StoreError> {
        let Some(cursor) = self.cursor("refunds", scope, starting_after)? else { return Ok(None) };
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM refunds WHERE account_id = ?1 AND mode = ?2 AND seq < ?3
               AND (?4 IS NULL OR payin_id = ?4)
             ORDER BY seq DESC LIMIT ?5",
        )?;
        let rows: Vec<String> = st
            .query_map(params![scope.account_id, scope.mode.as_str(), cursor, payin_id, (limit + 1) as i64], |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(page(rows, limit)?))
    }

    fn set_event_types(&mut self, id: &str, types: &BTreeMap<String, bool>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE accounts SET event_types = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(types)?],
        )?;
        Ok(())
    }
}

fn status_str<S: serde::Serialize>(s: &S) -> Result<String, StoreError> {
    match serde_json::to_value(s)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Corrupt(format!("status is not a string: {other}"))),
    }
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<KeyRecord, StoreError>> {
    let mode: String = r.get(3)?;
    let Some(mode) = Mode::parse(&mode) else {
        return Ok(Err(StoreError::Corrupt(format!("api key mode {mode}"))));
    };
    Ok(Ok(KeyRecord {
        access_key: r.get(0)?,
        secret_hash: r.get(1)?,
        account_id: r.get(2)?,
        mode,
        created_at: Timestamp::from_micros(r.get(4)?),
    }))
}
