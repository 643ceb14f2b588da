//! Writes held back and sent together: many rows, and many transactions' rows, in one statement.
//!
//! On PostgreSQL each statement is a round trip and each commit a WAL flush; on a machine the database
//! shares, those are what a write costs. A write whose only possible answer is "done" (inserting new
//! rows, updating rows the transaction has locked, deleting a leased job) is therefore held in a
//! [`Batch`]: per kind of write, one array per column. A batch goes out as one statement of fixed shape,
//! `WITH w0 AS (INSERT … SELECT * FROM unnest($1::text[], …)), … <last>`, whatever its row count, so
//! the statement is prepared once per connection and planned once.
//!
//! A transaction that read nothing under lock and wrote only such rows (a create+confirm) needs no
//! `BEGIN` at all: its batch is one atomic statement. The [`Committer`] merges the batches of
//! concurrent transactions like that into one statement and one commit (group commit), and answers each
//! caller once it is durable. If the merged statement fails, each batch is retried alone, so one
//! transaction's error is never another's.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};

use postgres::types::{ToSql, Type};
use postgres::{Client, Statement};
use tokio::sync::oneshot;

use crate::StoreError;

/// Statements prepared and kept per connection; rarer shapes go unprepared.
pub(crate) const MAX_PREPARED: usize = 256;
/// Batches the committer merges into one statement at most.
const MAX_MERGE: usize = 256;

pub(crate) type Prepared = HashMap<String, Statement>;

/// A kind of held write: the table it touches and its statement over one array per column.
struct Kind {
    table: &'static str,
    sql: &'static str,
    types: &'static [Type],
}

/// The update of many stored documents' `status` and `data` by id, from three arrays.
macro_rules! update_doc {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " AS t SET status = u.status, data = u.data
              FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, status, data) WHERE t.id = u.id"
        )
    };
}

const T: Type = Type::TEXT_ARRAY;
const I: Type = Type::INT8_ARRAY;
const I4: Type = Type::INT4_ARRAY;
const B: Type = Type::BYTEA_ARRAY;

pub(crate) const INSERT_PAYIN: usize = 0;
pub(crate) const UPDATE_PAYIN: usize = 1;
pub(crate) const INSERT_CUSTOMER: usize = 2;
pub(crate) const INSERT_ATTEMPT: usize = 3;
pub(crate) const UPDATE_ATTEMPT: usize = 4;
pub(crate) const INSERT_EVENT: usize = 5;
pub(crate) const INSERT_JOB: usize = 6;
pub(crate) const DELETE_JOB: usize = 7;
pub(crate) const RESCHEDULE_JOB: usize = 8;
pub(crate) const INSERT_DELIVERY: usize = 9;
pub(crate) const UPDATE_REFUND: usize = 10;
pub(crate) const PUT_IDEMPOTENCY: usize = 11;

/// In this order a batch's statement runs them; foreign keys are checked at its end, so the order
/// between kinds does not matter, and no batch holds two writes to one row.
const KINDS: [Kind; 12] = [
    Kind {
        table: "payins",
        sql: "INSERT INTO payins (id, account_id, mode, status, created_at, data)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[])",
        types: &[T, T, T, T, I, T],
    },
    Kind { table: "payins", sql: update_doc!("payins"), types: &[T, T, T] },
    Kind {
        table: "customers",
        sql: "INSERT INTO customers (id, account_id, mode, created_at, data)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[])",
        types: &[T, T, T, I, T],
    },
    Kind {
        table: "payment_attempts",
        sql: "INSERT INTO payment_attempts (id, payin_id, account_id, mode, status, created_at, data)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[])",
        types: &[T, T, T, T, T, I, T],
    },
    Kind { table: "payment_attempts", sql: update_doc!("payment_attempts"), types: &[T, T, T] },
    Kind {
        table: "events",
        sql: "INSERT INTO events (id, account_id, mode, type, object_id, created_at, data)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[])",
        types: &[T, T, T, T, T, I, T],
    },
    Kind {
        table: "jobs",
        sql: "INSERT INTO jobs (kind, payload, run_at, created_at)
              SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])",
        types: &[T, T, I, I],
    },
    Kind { table: "jobs", sql: "DELETE FROM jobs WHERE id = ANY($1::int8[])", types: &[I] },
    Kind {
        table: "jobs",
        sql: "UPDATE jobs AS t SET run_at = u.run_at, locked_until = 0
              FROM unnest($1::int8[], $2::int8[]) AS u(id, run_at) WHERE t.id = u.id",
        types: &[I, I],
    },
    Kind {
        table: "deliveries",
        sql: "INSERT INTO deliveries (event_id, account_id, mode, data)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        types: &[T, T, T, T],
    },
    Kind { table: "refunds", sql: update_doc!("refunds"), types: &[T, T, T] },
    Kind {
        table: "idempotency_keys",
        sql: "INSERT INTO idempotency_keys
              (access_key, key, request_hash, state, response_status, response_body, created_at, locked_until)
              SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::bytea[],
                                   $7::int8[], $8::int8[])
              ON CONFLICT (access_key, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
                state = EXCLUDED.state, response_status = EXCLUDED.response_status,
                response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at,
                locked_until = EXCLUDED.locked_until",
        types: &[T, T, T, T, I4, B, I, I],
    },
];

/// One value of a held row.
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Int4(i32),
    Bytes(Vec<u8>),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_string())
    }
}
impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(s)
    }
}
impl From<i64> for Param {
    fn from(i: i64) -> Self {
        Param::Int(i)
    }
}

/// One column of held rows.
enum Col {
    Text(Vec<String>),
    Int(Vec<i64>),
    Int4(Vec<i32>),
    Bytes(Vec<Vec<u8>>),
}

impl Col {
    fn for_type(t: &Type) -> Col {
        match *t {
            Type::INT8_ARRAY => Col::Int(Vec::new()),
            Type::INT4_ARRAY => Col::Int4(Vec::new()),
            Type::BYTEA_ARRAY => Col::Bytes(Vec::new()),
            _ => Col::Text(Vec::new()),
        }
    }

    fn push(&mut self, p: Param) {
        match (self, p) {
            (Col::Text(v), Param::Text(s)) => v.push(s),
            (Col::Int(v), Param::Int(i)) => v.push(i),
            (Col::Int4(v), Param::Int4(i)) => v.push(i),
            (Col::Bytes(v), Param::Bytes(b)) => v.push(b),
            _ => unreachable!("a held value of the wrong type for its column"),
        }
    }

    /// Takes the first `n` values out.
    fn split_front(&mut self, n: usize) -> Col {
        match self {
            Col::Text(v) => Col::Text(v.drain(..n).collect()),
            Col::Int(v) => Col::Int(v.drain(..n).collect()),
            Col::Int4(v) => Col::Int4(v.drain(..n).collect()),
            Col::Bytes(v) => Col::Bytes(v.drain(..n).collect()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Text(v) => v.len(),
            Col::Int(v) => v.len(),
            Col::Int4(v) => v.len(),
            Col::Bytes(v) => v.len(),
        }
    }

    fn append(&mut self, other: Col) {
        match (self, other) {
            (Col::Text(a), Col::Text(b)) => a.extend(b),
            (Col::Int(a), Col::Int(b)) => a.extend(b),
            (Col::Int4(a), Col::Int4(b)) => a.extend(b),
            (Col::Bytes(a), Col::Bytes(b)) => a.extend(b),
            _ => unreachable!("columns of one kind have one type"),
        }
    }

    fn bind(&self) -> &(dyn ToSql + Sync) {
        match self {
            Col::Text(v) => v,
            Col::Int(v) => v,
            Col::Int4(v) => v,
            Col::Bytes(v) => v,
        }
    }
}

/// The rows of one table a batch writes.
#[derive(Default)]
struct Touched {
    keys: HashSet<String>,
    /// Whether it holds rows no read names by key (new jobs, deliveries).
    keyless: bool,
}

/// Writes held by one transaction (or, merged, by several).
#[derive(Default)]
pub(crate) struct Batch {
    /// Per kind, its columns (empty until the kind's first row).
    cols: [Vec<Col>; KINDS.len()],
    /// The rows written, by table, so a read or a second write of one of them flushes first.
    touched: HashMap<&'static str, Touched>,
    rows: usize,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Whether a held write touches the row `key` of `table` (any row, when `key` is `None`; rows held
    /// without a key match any key).
    pub(crate) fn touches(&self, table: &str, key: Option<&str>) -> bool {
        self.touched.get(table).is_some_and(|t| t.keyless || key.is_none_or(|k| t.keys.contains(k)))
    }

    /// Whether holding a write to this row would write it twice in one statement.
    pub(crate) fn clashes(&self, kind: usize, key: &Option<String>) -> bool {
        let table = KINDS[kind].table;
        key.as_ref().is_some_and(|k| self.touched.get(table).is_some_and(|t| t.keys.contains(k)))
    }

    pub(crate) fn push(&mut self, kind: usize, key: Option<String>, row: Vec<Param>) {
        let spec = &KINDS[kind];
        debug_assert_eq!(row.len(), spec.types.len());
        let cols = &mut self.cols[kind];
        if cols.is_empty() {
            *cols = spec.types.iter().map(Col::for_type).collect();
        }
        for (c, p) in cols.iter_mut().zip(row) {
            c.push(p);
        }
        let touched = self.touched.entry(spec.table).or_default();
        match key {
            Some(k) => {
                touched.keys.insert(k);
            }
            None => touched.keyless = true,
        }
        self.rows += 1;
    }

    /// Rows held per kind.
    fn counts(&self) -> [usize; KINDS.len()] {
        std::array::from_fn(|k| self.cols[k].first().map_or(0, Col::len))
    }

    /// Adds `other`'s rows after this batch's (for sending only: what they touch is not kept).
    fn append(&mut self, other: Batch) {
        for (kind, cols) in other.cols.into_iter().enumerate() {
            if cols.is_empty() {
                continue;
            }
            if self.cols[kind].is_empty() {
                self.cols[kind] = cols;
            } else {
                for (a, b) in self.cols[kind].iter_mut().zip(cols) {
                    a.append(b);
                }
            }
        }
        self.rows += other.rows;
    }

    /// Takes the first rows out again, `counts` of each kind: undoes an [`Batch::append`], in order.
    fn split_front(&mut self, counts: [usize; KINDS.len()]) -> Batch {
        let mut part = Batch::default();
        for (kind, &n) in counts.iter().enumerate() {
            if n > 0 {
                part.cols[kind] = self.cols[kind].iter_mut().map(|c| c.split_front(n)).collect();
            }
        }
        part.rows = counts.iter().sum();
        self.rows -= part.rows;
        part
    }

    /// The statement for the kinds this batch holds, and its parameters in order.
    fn statement(&self) -> (String, Vec<Type>, Vec<&(dyn ToSql + Sync)>) {
        let present: Vec<usize> = (0..KINDS.len()).filter(|k| !self.cols[*k].is_empty()).collect();
        let mut sql = String::new();
        let mut types = Vec::new();
        let mut binds = Vec::new();
        for (i, &k) in present.iter().enumerate() {
            let spec = &KINDS[k];
            if i + 1 < present.len() {
                sql.push_str(if i == 0 { "WITH " } else { ", " });
                sql.push_str(&format!("w{i} AS ("));
                renumber(spec.sql, types.len(), &mut sql);
                sql.push_str(")\n");
            } else {
                renumber(spec.sql, types.len(), &mut sql);
            }
            types.extend(spec.types.iter().cloned());
            binds.extend(self.cols[k].iter().map(Col::bind));
        }
        (sql, types, binds)
    }

    /// Sends the batch as one statement on `client`: inside its transaction if one is open, else as a
    /// transaction of its own.
    pub(crate) fn send(&self, client: &mut Client, prepared: &mut Prepared) -> Result<(), StoreError> {
        if self.is_empty() {
            return Ok(());
        }
        let (sql, types, binds) = self.statement();
        let st = match prepared.get(&sql) {
            Some(st) => Some(st.clone()),
            None if prepared.len() < MAX_PREPARED => {
                let st = client.prepare_typed(&sql, &types)?;
                prepared.insert(sql.clone(), st.clone());
                Some(st)
            }
            None => None,
        };
        match st {
            Some(st) => client.execute(&st, &binds)?,
            None => {
                let typed: Vec<(&(dyn ToSql + Sync), Type)> = binds.into_iter().zip(types).collect();
                client.execute_typed(&sql, &typed)?
            }
        };
        Ok(())
    }
}

/// `sql` with its placeholders `$n` renumbered to `$(n + offset)`.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
        } else {
            let n: usize = rest[at + 1..at + 1 + digits].parse().expect("placeholder number");
            out.push('$');
            out.push_str(&(n + offset).to_string());
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
}

/// A batch waiting for the committer, and where its caller waits for the outcome.
struct Submission {
    batch: Batch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Group commit for PostgreSQL: threads, each with its own connection, that merge the batches of
/// concurrent lock-free transactions into one statement and one commit.
pub(crate) struct Committer {
    queue: Mutex<mpsc::Sender<Submission>>,
}

impl Committer {
    /// Starts `threads` committer threads; `connect` opens their connections (again after a failure).
    pub(crate) fn start<C>(threads: usize, connect: C) -> Result<Committer, StoreError>
    where
        C: Fn() -> Result<Client, StoreError> + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel::<Submission>();
        let rx = Arc::new(Mutex::new(rx));
        let connect = Arc::new(connect);
        for i in 0..threads {
            let (rx, connect) = (rx.clone(), connect.clone());
            std::thread::Builder::new()
                .name(format!("kasir-pg-commit-{i}"))
                .spawn(move || commit_loop(&rx, &*connect))
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        Ok(Committer { queue: Mutex::new(tx) })
    }

    /// Commits `batch`, merged with whatever else is waiting; returns once it is durable or failed.
    pub(crate) async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        let sender = self.queue.lock().expect("commit queue").clone();
        sender.send(Submission { batch, done }).map_err(|_| StoreError::Unavailable("the committer stopped".into()))?;
        rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the committer stopped".into())))
    }
}

fn commit_loop(rx: &Mutex<mpsc::Receiver<Submission>>, connect: &dyn Fn() -> Result<Client, StoreError>) {
    let mut conn: Option<(Client, Prepared)> = None;
    loop {
        // Whoever holds the queue takes the first waiting batch and everything queued behind it.
        let subs = {
            let rx = rx.lock().expect("commit queue");
            let Ok(first) = rx.recv() else { return };
            let mut subs = vec![first];
            while subs.len() < MAX_MERGE {
                match rx.try_recv() {
                    Ok(s) => subs.push(s),
                    Err(_) => break,
                }
            }
            subs
        };
        if conn.as_ref().is_none_or(|c| c.0.is_closed()) {
            conn = match connect() {
                Ok(c) => Some((c, Prepared::new())),
                Err(e) => {
                    let msg = e.to_string();
                    for s in subs {
                        let _ = s.done.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                    continue;
                }
            };
        }
        let (client, prepared) = conn.as_mut().expect("connected");
        commit_merged(client, prepared, subs);
    }
}

fn commit_merged(client: &mut Client, prepared: &mut Prepared, subs: Vec<Submission>) {
    if subs.len() == 1 {
        let s = subs.into_iter().next().expect("one");
        let _ = s.done.send(s.batch.send(client, prepared));
        return;
    }
    let mut merged = Batch::default();
    let mut waiting = Vec::with_capacity(subs.len());
    let mut counts = Vec::with_capacity(subs.len());
    for s in subs {
        counts.push(s.batch.counts());
        merged.append(s.batch);
        waiting.push(s.done);
    }
    match merged.send(client, prepared) {
        Ok(()) => {
            for w in waiting {
                let _ = w.send(Ok(()));
            }
        }
        // A statement the database refused (a constraint, say) is one part's fault: try each alone.
        Err(StoreError::Conflict(_)) | Err(StoreError::Pg(_)) if !client.is_closed() => {
            for (n, w) in counts.into_iter().zip(waiting) {
                let part = merged.split_front(n);
                let _ = w.send(part.send(client, prepared));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for w in waiting {
                let _ = w.send(Err(StoreError::Unavailable(msg.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_renumber() {
        let mut out = String::new();
        renumber("VALUES ($1, $2::text[], $10) AND x = '$'", 5, &mut out);
        assert_eq!(out, "VALUES ($6, $7::text[], $15) AND x = '$'");
    }

    #[test]
    fn a_batch_is_one_statement_over_the_kinds_it_holds() {
        let mut b = Batch::default();
        b.push(INSERT_JOB, None, vec!["k".into(), "{}".into(), 1i64.into(), 2i64.into()]);
        b.push(DELETE_JOB, Some("7".into()), vec![7i64.into()]);
        b.push(INSERT_JOB, None, vec!["k".into(), "{}".into(), 3i64.into(), 4i64.into()]);
        let (sql, types, binds) = b.statement();
        assert!(sql.starts_with("WITH w0 AS (INSERT INTO jobs"), "{sql}");
        assert!(sql.contains("DELETE FROM jobs WHERE id = ANY($5::int8[])"), "{sql}");
        assert_eq!(types.len(), 5);
        assert_eq!(binds.len(), 5);
        assert_eq!(b.rows(), 3);
        assert!(b.touches("jobs", Some("9")), "new jobs have no key, so any read of jobs sees them");
        assert!(b.clashes(RESCHEDULE_JOB, &Some("7".into())));
        assert!(!b.clashes(RESCHEDULE_JOB, &Some("8".into())));
    }

    #[test]
    fn merged_batches_split_back_into_the_same_parts() {
        let (a, b) = (job(1), payin("pay_x"));
        let (ca, cb) = (a.counts(), b.counts());
        let (sa, sb) = (a.statement().0, b.statement().0);
        let mut merged = Batch::default();
        merged.append(a);
        merged.append(b);
        assert_eq!(merged.rows(), 2);
        let (a2, b2) = (merged.split_front(ca), merged.split_front(cb));
        assert_eq!((a2.statement().0, a2.rows()), (sa, 1));
        assert_eq!((b2.statement().0, b2.rows()), (sb, 1));
        assert!(merged.is_empty());
    }

    fn job(n: i64) -> Batch {
        let mut b = Batch::default();
        b.push(INSERT_JOB, None, vec!["test".into(), format!("{{\"n\":{n}}}").into(), n.into(), n.into()]);
        b
    }

    fn payin(id: &str) -> Batch {
        let mut b = Batch::default();
        let row =
            vec![id.into(), "acct".into(), "test".into(), "requires_payment_method".into(), 1i64.into(), "{}".into()];
        b.push(INSERT_PAYIN, Some(id.into()), row);
        b
    }

    /// Merged batches commit together; when the merged statement fails, each is retried alone, so only
    /// the batch at fault fails. Runs when `KASIR_TEST_POSTGRES_URL` names a server.
    #[test]
    fn a_failing_batch_fails_alone_when_merged() {
        let Some(admin) = std::env::var("KASIR_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("skipped: set KASIR_TEST_POSTGRES_URL to run the PostgreSQL batch test");
            return;
        };
        let db = format!("kasir_batch_{}", std::process::id());
        let mut adm = Client::connect(&admin, postgres::NoTls).expect("connect");
        adm.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).expect("drop db");
        adm.batch_execute(&format!("CREATE DATABASE {db}")).expect("create db");
        // postgres://user@host:port/postgres -> the same server, the new database.
        let server = admin.split('?').next().and_then(|u| u.rsplit_once('/')).map(|(s, _)| s).expect("URL");
        let url = format!("{server}/{db}");
        crate::PgStore::open(&url, 1).expect("migrate");
        let mut client = Client::connect(&url, postgres::NoTls).expect("connect");
        let mut prepared = Prepared::new();
        payin("pay_dup").send(&mut client, &mut prepared).expect("first insert");

        let mut rxs = Vec::new();
        let mut subs = Vec::new();
        for (i, batch) in [job(1), payin("pay_dup"), job(2), payin("pay_new"), job(3)].into_iter().enumerate() {
            let (done, rx) = oneshot::channel();
            subs.push(Submission { batch, done });
            rxs.push((i, rx));
        }
        commit_merged(&mut client, &mut prepared, subs);
        for (i, mut rx) in rxs {
            let got = rx.try_recv().expect("answered");
            if i == 1 {
                assert!(matches!(got, Err(StoreError::Conflict(_))), "the duplicate fails: {got:?}");
            } else {
                assert!(got.is_ok(), "batch {i} commits: {got:?}");
            }
        }
        let jobs: i64 = client.query_one("SELECT count(*) FROM jobs", &[]).expect("count").get(0);
        let payins: i64 = client.query_one("SELECT count(*) FROM payins", &[]).expect("count").get(0);
        assert_eq!((jobs, payins), (3, 2));
        drop(client);
        adm.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop db");
    }
}
