//! The SQLite backend: one writer thread that group-commits, and a pool of read connections. Each
//! aggregate's records are a file of their own beside this one.

mod accounts;
mod backup;
mod checkouts;
mod customers;
pub(crate) mod doc_cache;
mod events;
mod idempotency;
mod jobs;
mod payins;
mod refunds;
mod reports;
mod sequences;
mod tx;
mod users;

use std::fs::{File, OpenOptions, TryLockError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::metrics::{EventTally, StoreMetrics};
use crate::schema::{self, Dialect, MIGRATIONS};
use crate::{StoreError, Tx};
use doc_cache::{DocCache, WrittenDoc};
use tx::SqliteTx;

/// How many callers' writes one commit may carry at most.
const MAX_BATCH: usize = 512;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// What a batch's writes leave to be done once it commits.
#[derive(Default)]
struct BatchOut {
    /// The payin documents written, when the store caches them.
    docs: Option<Vec<WrittenDoc>>,
    /// The events written, by type, for the metrics.
    events: EventTally,
}

impl BatchOut {
    fn new(caching: bool) -> BatchOut {
        BatchOut { docs: caching.then(Vec::new), events: EventTally::default() }
    }
}

/// A write waiting for the writer.
trait Write: Send {
    /// Runs the caller's closure (again, when the batch is run a second time) and keeps its outcome;
    /// adds what it wrote (the payin documents, when the store caches them; its events' types) to the
    /// batch's. Returns whether it succeeded and whether it changed any row.
    fn run(&mut self, conn: &Connection, out: &mut BatchOut) -> Ran;
    /// Hands the caller the kept outcome once the commit's fate is known.
    fn deliver(self: Box<Self>, commit_err: Option<&StoreError>);
}

struct Ran {
    ok: bool,
    wrote: bool,
}

type Job = Box<dyn Write>;

struct Pending<T, E, F> {
    op: F,
    outcome: Option<Result<T, E>>,
    done: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Write for Pending<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send,
{
    fn run(&mut self, conn: &Connection, out: &mut BatchOut) -> Ran {
        let before = conn.total_changes();
        let mut tx = SqliteTx { conn, written: out.docs.as_ref().map(|_| Vec::new()), events: EventTally::default() };
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.op)(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a write panicked".into()).into()));
        let ok = outcome.is_ok();
        if ok {
            out.events.merge(&tx.events);
        }
        if let (true, Some(all), Some(mine)) = (ok, out.docs.as_mut(), tx.written) {
            all.extend(mine);
        }
        self.outcome = Some(outcome);
        Ran { ok, wrote: conn.total_changes() != before }
    }

    fn deliver(self: Box<Self>, commit_err: Option<&StoreError>) {
        let Pending { outcome, done, .. } = *self;
        let result = match (outcome, commit_err) {
            (None, Some(e)) => Err(StoreError::Unavailable(format!("the write did not run: {e}")).into()),
            (None, None) => Err(StoreError::Unavailable("the write did not run".into()).into()),
            // Every outcome of a batch that was not committed was reached against writes that are
            // gone, errors included: each caller hears the batch's failure, and may retry.
            (Some(_), Some(e)) => Err(StoreError::Unavailable(format!("commit failed: {e}")).into()),
            (Some(outcome), None) => outcome,
        };
        let _ = done.send(result);
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    /// Kept by the process that owns the file (`kasir serve`); see [`doc_cache`].
    docs: Option<Arc<DocCache>>,
    metrics: StoreMetrics,
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL with synchronous=FULL: an acknowledged write survives a crash and a power loss.
    // Savepoints' sub-journals stay in memory rather than in temporary files.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = schema::check_version(current as usize)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(&schema::render(sql, Dialect::Sqlite))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}

/// Takes the file's owner lock (`PATH.lock`, beside the database), or says who holds it.
fn claim(path: &Path) -> Result<File, StoreError> {
    // Named after the file itself, however it is reached (a relative path, a symlink).
    let real = match (std::fs::canonicalize(path), path.parent(), path.file_name()) {
        (Ok(p), _, _) => p,
        (Err(_), Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            std::fs::canonicalize(dir).map(|d| d.join(name)).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    };
    let mut lock_path = real.into_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "another kasir process serves {} (it holds {}); one process serves a SQLite file, use PostgreSQL for more",
            path.display(),
            lock_path.display()
        ))),
        Err(TryLockError::Error(e)) => {
            Err(StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

impl SqliteStore {
    /// Opens and migrates the file. An `owner` (the serving process) locks the file against a second
    /// owner and caches payin documents; the CLI's commands open it beside a running server.
    pub fn open(path: &str, owner: bool) -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(path);
        let lock = if owner { Some(claim(&path)?) } else { None };
        let mut conn = connect(&path)?;
        migrate(&mut conn)?;
        let docs = owner.then(|| Arc::new(DocCache::new(doc_cache::MAX_BYTES)));
        let (tx, rx) = mpsc::channel::<Job>();
        let publish = docs.clone();
        let metrics = StoreMetrics::default();
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("kasir-sqlite-writer".into())
            // The writer holds the owner lock until its last write is done, not only while the store
            // is in use: no second server starts while this one may still change a payin.
            .spawn(move || {
                writer_loop(conn, rx, publish, writer_metrics);
                drop(lock);
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let inner = Arc::new(Inner { path, jobs: Mutex::new(tx), readers: Mutex::new(Vec::new()), docs, metrics });
        Ok(SqliteStore { inner })
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.inner.metrics
    }

    /// A consistent copy of the database at `dest`, made beside any running server.
    pub fn backup(&self, dest: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<(), StoreError> {
        backup::backup(&self.inner.path, dest, progress)
    }

    /// The document cache, when this process owns the file.
    pub(crate) fn docs(&self) -> Option<&DocCache> {
        self.inner.docs.as_deref()
    }

    pub fn describe(&self) -> String {
        format!("sqlite://{}", self.inner.path.display())
    }

    fn submit<T, E, F>(&self, op: F) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(Pending { op, outcome: None, done });
        let sender = self.inner.jobs.lock().expect("writer queue").clone();
        sender.send(job).map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        Ok(rx)
    }

    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let rx = self.submit(op)?;
        rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the writer has stopped".into()).into()))
    }

    pub fn write_blocking<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let rx = self.submit(op)?;
        rx.blocking_recv().unwrap_or_else(|_| Err(StoreError::Unavailable("the writer has stopped".into()).into()))
    }

    pub async fn read<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        // Reads run on the calling thread: a point lookup or a page of at most a hundred rows takes
        // microseconds, less than handing it to another thread would. WAL lets them run beside the writer.
        let conn = match self.inner.readers.lock().expect("reader pool").pop() {
            Some(c) => c,
            None => {
                let c = connect(&self.inner.path).map_err(E::from)?;
                c.execute_batch("PRAGMA query_only = ON").map_err(|e| E::from(e.into()))?;
                c
            }
        };
        // No explicit transaction: a read is one statement, or a cursor lookup and a page, where a
        // commit in between changes nothing a caller could see (`seq` only grows).
        let reader = &mut SqliteTx { conn: &conn, written: None, events: EventTally::default() };
        let out = catch_unwind(AssertUnwindSafe(|| op(reader)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a read panicked".into()).into()));
        let mut pool = self.inner.readers.lock().expect("reader pool");
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, cache: Option<Arc<DocCache>>, metrics: StoreMetrics) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = StoreError::Db(e);
            tracing::error!(error = %err, "cannot begin a write transaction");
            for job in batch {
                job.deliver(Some(&err));
            }
            continue;
        }
        let mut out = BatchOut::new(cache.is_some());
        // A write checks before it changes anything, so one that fails has almost always nothing to
        // undo: the batch runs without a savepoint per write (a savepoint copies every page its write
        // then touches, a fifth of the writer's time). A write that fails after changing rows sends
        // the batch round again, isolated.
        let mut ended = false;
        let clean = batch.iter_mut().all(|job| {
            let ran = job.run(&conn, &mut out);
            // Some errors (a full disk, an I/O error) make SQLite roll the whole transaction back
            // itself; whatever ran after that would commit statement by statement. Stop there.
            ended = conn.is_autocommit();
            !ended && (ran.ok || !ran.wrote)
        });
        let failed = if ended {
            Some(ended_by_sqlite())
        } else if clean {
            None
        } else {
            rerun_isolated(&conn, &mut batch, &mut out)
        };
        let committing = std::time::Instant::now();
        let commit_err = failed.or_else(|| conn.execute_batch("COMMIT").err().map(StoreError::Db));
        if let Some(e) = &commit_err {
            tracing::error!(error = %e, "commit failed; rolling back the batch");
            let _ = conn.execute_batch("ROLLBACK");
        } else {
            metrics.sqlite_batch(batch.len(), committing.elapsed());
            metrics.committed(&out.events);
            if let (Some(cache), Some(docs)) = (&cache, out.docs) {
                // Before anyone hears of the commit: a read after an acknowledged write sees it.
                cache.publish(docs);
            }
        }
        for job in batch {
            job.deliver(commit_err.as_ref());
        }
    }
}

fn ended_by_sqlite() -> StoreError {
    StoreError::Unavailable("the database ended the transaction after an error; none of its writes were kept".into())
}

/// A write failed after changing rows: undoes the whole batch and runs every write again, each in a
/// savepoint of its own, so the failing one leaves nothing behind and the others keep their changes.
/// Every write is a closure over the transaction alone, so running it again is running it afresh.
fn rerun_isolated(conn: &Connection, batch: &mut [Job], out: &mut BatchOut) -> Option<StoreError> {
    tracing::debug!(writes = batch.len(), "a write failed after changing rows; running its batch again, isolated");
    if let Err(e) = conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE") {
        return Some(StoreError::Db(e));
    }
    *out = BatchOut::new(out.docs.is_some());
    for job in batch.iter_mut() {
        // Prepared once: a batch may run these hundreds of times.
        if let Err(e) = conn.prepare_cached("SAVEPOINT w").and_then(|mut st| st.execute([])) {
            return Some(StoreError::Db(e));
        }
        let ran = job.run(conn, out);
        if conn.is_autocommit() {
            return Some(ended_by_sqlite());
        }
        let end = if ran.ok {
            conn.prepare_cached("RELEASE w").and_then(|mut st| st.execute([])).map(drop)
        } else {
            conn.execute_batch("ROLLBACK TO w; RELEASE w")
        };
        if let Err(e) = end {
            return Some(StoreError::Db(e));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use kasir_domain::Timestamp;

    use super::*;

    fn add(id: &'static str) -> impl FnMut(&mut dyn Tx) -> Result<usize, StoreError> + Send + 'static {
        let runs = AtomicUsize::new(0);
        move |tx| {
            tx.insert_account(id, id, Timestamp::from_micros(0))?;
            Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
        }
    }

    /// Keeps the writer busy for a moment, once it has begun, so the writes sent next share a batch.
    fn hold_writer(store: &SqliteStore) -> oneshot::Receiver<Result<usize, StoreError>> {
        let (started, wait) = mpsc::channel();
        let rx = store
            .submit(move |_tx: &mut dyn Tx| {
                let _ = started.send(());
                std::thread::sleep(Duration::from_millis(200));
                Ok::<_, StoreError>(0usize)
            })
            .unwrap();
        wait.recv().unwrap();
        rx
    }

    /// A write that, like a full disk, makes SQLite end the transaction itself, and fails.
    struct EndsTransaction(Option<oneshot::Sender<()>>);

    impl Write for EndsTransaction {
        fn run(&mut self, conn: &Connection, _out: &mut BatchOut) -> Ran {
            conn.execute_batch("ROLLBACK").unwrap();
            Ran { ok: false, wrote: false }
        }

        fn deliver(mut self: Box<Self>, _commit_err: Option<&StoreError>) {
            let _ = self.0.take().map(|d| d.send(()));
        }
    }

    #[test]
    fn when_sqlite_ends_the_transaction_no_write_of_the_batch_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("k.db").to_str().unwrap(), false).unwrap();
        let hold = hold_writer(&store);
        let before = store.submit(add("acc_before")).unwrap();
        let (ended, ended_rx) = oneshot::channel();
        store.inner.jobs.lock().unwrap().send(Box::new(EndsTransaction(Some(ended)))).unwrap();
        let after = store.submit(add("acc_after")).unwrap();
        hold.blocking_recv().unwrap().unwrap();
        ended_rx.blocking_recv().unwrap();
        // Neither caller hears success; nothing of the batch is in the database, not even the write
        // that came after the end (it would otherwise have committed on its own).
        assert!(before.blocking_recv().unwrap().is_err());
        assert!(after.blocking_recv().unwrap().is_err());
        let exists = |id: &'static str| store.write_blocking(move |tx| tx.account(id)).unwrap().is_some();
        assert!(!exists("acc_before") && !exists("acc_after"));
        // And the writer goes on.
        assert_eq!(store.write_blocking(add("acc_later")).unwrap(), 1);
        assert!(exists("acc_later"));
    }

    /// One group commit: a write that fails after changing rows leaves nothing behind, and the writes
    /// beside it commit (run a second time, each isolated); a write that fails before changing anything
    /// needs no second run.
    #[test]
    fn a_write_failing_after_its_changes_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("k.db").to_str().unwrap(), false).unwrap();
        let (first, second, third) = {
            // The first write holds the writer, so the next ones queue and share one batch.
            let hold = hold_writer(&store);
            let before = store.submit(add("acc_before")).unwrap();
            let failing = store
                .submit(|tx: &mut dyn Tx| -> Result<usize, StoreError> {
                    tx.insert_account("acc_failing", "x", Timestamp::from_micros(0))?;
                    Err(StoreError::Conflict("refused after writing".into()))
                })
                .unwrap();
            let after = store.submit(add("acc_after")).unwrap();
            hold.blocking_recv().unwrap().unwrap();
            (before, failing, after)
        };
        assert_eq!(first.blocking_recv().unwrap().unwrap(), 2, "run, then run again isolated");
        assert!(matches!(second.blocking_recv().unwrap(), Err(StoreError::Conflict(_))));
        assert_eq!(third.blocking_recv().unwrap().unwrap(), 1, "not run until the isolated round");
        let exists = |id: &'static str| store.write_blocking(move |tx| tx.account(id)).unwrap().is_some();
        assert!(exists("acc_before") && exists("acc_after"));
        assert!(!exists("acc_failing"), "the failed write's row is gone");

        // A write that fails before changing anything: the batch around it runs once.
        let hold = hold_writer(&store);
        let ok = store.submit(add("acc_once")).unwrap();
        let refused = store
            .submit(|tx: &mut dyn Tx| -> Result<usize, StoreError> {
                tx.account("acc_once")?;
                Err(StoreError::Conflict("refused before writing".into()))
            })
            .unwrap();
        hold.blocking_recv().unwrap().unwrap();
        assert!(refused.blocking_recv().unwrap().is_err());
        assert_eq!(ok.blocking_recv().unwrap().unwrap(), 1, "no second run");
    }
}
