//! The PostgreSQL transaction: one connection, held writes, and the helpers every aggregate's records
//! share.

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use serde::de::DeserializeOwned;

use super::batch::{Batch, Param, Prepared};
use crate::codec::decode;
use crate::metrics::EventTally;
use crate::{Listed, Page, PageRequest, Result, Scope, StoreError, Tx, TABLES};

/// One transaction on one connection, with as few round trips as its work allows.
///
/// Writes whose only possible answer is "done" are held in a [`Batch`] and sent as one statement when
/// something needs them: a read of a row they touch, a write whose answer matters, or the commit.
/// `BEGIN` is sent only before the first statement that needs a transaction: a locking read, or any
/// statement sent while more work follows. Under PostgreSQL's READ COMMITTED every statement takes its
/// own snapshot anyway, so a read outside `BEGIN` sees exactly what it would have seen inside. A
/// transaction that never began ends with its batch alone, which the committer may merge with others.
pub(crate) struct PgTx<'a> {
    pub(super) client: &'a mut Client,
    pub(super) stmts: &'a mut Prepared,
    /// A write transaction: payin reads lock the row, and writes are allowed.
    pub(super) write: bool,
    /// Whether `BEGIN` has been sent.
    pub(super) began: bool,
    pub(super) held: Batch,
    /// Writes made or held so far (see [`Tx::writes`]).
    pub(super) writes: u64,
    /// The events written, by type.
    pub(super) events: EventTally,
}

/// Rows held before they are sent anyway, so a long transaction's batch stays a modest statement.
const MAX_HELD_ROWS: usize = 2_000;

/// Whether a key names nothing because PostgreSQL cannot hold it: `text` never contains NUL, and a
/// parameter with one is an error rather than a miss. Such a key is answered as SQLite answers it, as
/// naming no row, so both backends give the same answer to the same request.
pub(super) fn unstorable(key: &str) -> bool {
    key.contains('\0')
}

impl PgTx<'_> {
    /// The prepared statement for `sql` on this connection, prepared on first use: one round trip per
    /// statement after that, and no planning from scratch.
    pub(super) fn stmt(&mut self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub(super) fn begin(&mut self) -> Result<()> {
        if !self.began {
            self.client.batch_execute("BEGIN")?;
            self.began = true;
        }
        Ok(())
    }

    pub(super) fn writable(&self) -> Result<()> {
        if self.write {
            Ok(())
        } else {
            Err(StoreError::Corrupt("a read transaction tried to write".into()))
        }
    }

    /// Sends every held write inside the transaction.
    pub(super) fn flush(&mut self) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let held = std::mem::take(&mut self.held);
        held.send(self.client, self.stmts)
    }

    /// Holds a write until something needs it. A second write to a row already held goes out after it,
    /// so no statement changes one row twice.
    pub(super) fn hold(&mut self, kind: usize, key: Option<String>, row: Vec<Param>) -> Result<()> {
        self.writable()?;
        self.writes += 1;
        if self.held.clashes(kind, &key) || self.held.rows() >= MAX_HELD_ROWS {
            self.flush()?;
        }
        self.held.push(kind, key, row);
        Ok(())
    }

    /// Holds the update of a stored document's status and JSON, keyed by its id.
    pub(super) fn hold_update(&mut self, kind: usize, id: &str, status: &str, data: String) -> Result<()> {
        self.hold(kind, Some(id.to_string()), vec![id.into(), status.into(), data.into()])
    }

    /// Before a read of `table` (of the row `key`, or of many rows when `None`): held writes it could
    /// see go out first, and a locking read starts the transaction.
    pub(super) fn before_read(&mut self, table: &str, key: Option<&str>, locking: bool) -> Result<()> {
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
    pub(super) fn before_write(&mut self) -> Result<()> {
        self.writable()?;
        self.writes += 1;
        self.begin()?;
        self.flush()
    }

    /// Ends a transaction whose work succeeded: its held writes and `COMMIT`. A transaction that never
    /// began returns its batch instead, for the caller to commit (alone or merged with others).
    pub(super) fn finish(&mut self) -> Result<Option<Batch>> {
        if !self.began {
            return Ok(Some(std::mem::take(&mut self.held)).filter(|b| !b.is_empty()));
        }
        self.flush()?;
        self.client.batch_execute("COMMIT")?;
        self.began = false;
        Ok(None)
    }

    /// Undoes whatever was sent; held writes were never sent.
    pub(super) fn abandon(&mut self) {
        self.held = Batch::default();
        if self.began {
            let _ = self.client.batch_execute("ROLLBACK");
            self.began = false;
        }
    }

    pub(super) fn cached_execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self.stmt(sql)?;
        Ok(self.client.execute(&st, params)?)
    }

    pub(super) fn cached_query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    pub(super) fn cached_query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    pub(super) fn cached_query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_one(&st, params)?)
    }

    pub(super) fn doc<T: DeserializeOwned>(
        &mut self,
        table: &str,
        scope: &Scope,
        id: &str,
        lock: bool,
    ) -> Result<Option<T>> {
        if unstorable(id) {
            return Ok(None);
        }
        self.before_read(table, Some(id), lock)?;
        let sql = format!(
            "SELECT data FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    /// Many rows of `table`, after the held writes to it have gone out.
    pub(super) fn docs<T: DeserializeOwned>(
        &mut self,
        table: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>> {
        self.before_read(table, None, false)?;
        self.cached_query(sql, params)?.into_iter().map(|r| decode(r.get(0))).collect()
    }

    /// The `seq` of a listed object, for cursors; `None` when it is not this scope's.
    pub(super) fn cursor(&mut self, table: &str, scope: &Scope, after: Option<&str>) -> Result<Option<i64>> {
        match after {
            None => Ok(Some(i64::MAX)),
            Some(id) if unstorable(id) => Ok(None),
            Some(id) => {
                self.before_read(table, Some(id), false)?;
                let sql = format!("SELECT seq FROM {table} WHERE id = $1 AND account_id = $2 AND mode = $3");
                Ok(self.cached_query_opt(&sql, &[&id, &scope.account_id, &scope.mode.as_str()])?.map(|r| r.get(0)))
            }
        }
    }

    /// A page of `table` in `scope`, newest first. `filters` are `AND …` clauses over `$4` onwards,
    /// bound to `args`; `args_unstorable` says a filter's value names nothing (an empty page).
    pub(super) fn list<T: DeserializeOwned>(
        &mut self,
        table: &str,
        scope: &Scope,
        page: &PageRequest,
        filters: &str,
        args: &[&(dyn ToSql + Sync)],
        args_unstorable: bool,
    ) -> Listed<T> {
        let Some(cursor) = self.cursor(table, scope, page.starting_after.as_deref())? else { return Ok(None) };
        if args_unstorable {
            return Ok(Some(Page::of(Vec::new(), page.limit)));
        }
        let sql = format!(
            "SELECT data FROM {table} WHERE account_id = $1 AND mode = $2 AND seq < $3 {filters}
             ORDER BY seq DESC LIMIT ${}",
            4 + args.len()
        );
        let (mode, fetch) = (scope.mode.as_str(), (page.limit + 1) as i64);
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&scope.account_id, &mode, &cursor];
        all.extend_from_slice(args);
        all.push(&fetch);
        Ok(Some(Page::of(self.docs(table, &sql, &all)?, page.limit)))
    }
}

impl Tx for PgTx<'_> {
    fn schema_version(&mut self) -> Result<usize> {
        let row = self.cached_query_one("SELECT max(version) FROM kasir_schema", &[])?;
        Ok(row.get::<_, Option<i32>>(0).unwrap_or(0) as usize)
    }

    fn writes(&self) -> u64 {
        self.writes
    }

    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>> {
        TABLES
            .iter()
            .map(|t| {
                self.before_read(t, None, false)?;
                let n: i64 = self.cached_query_one(&format!("SELECT count(*) FROM {t}"), &[])?.get(0);
                Ok((*t, n))
            })
            .collect()
    }
}
