//! The SQLite transaction: the connection it runs on and the helpers every aggregate's records share.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;

use super::doc_cache::WrittenDoc;
use crate::codec::decode;
use crate::metrics::EventTally;
use crate::{Page, PageRequest, Result, Scope, StoreError, Tx, TABLES};

/// The SQLite implementation of [`Tx`], over either the writer's transaction or a reader's connection.
pub(crate) struct SqliteTx<'c> {
    pub(crate) conn: &'c Connection,
    /// The payin documents this transaction wrote, kept for the document cache when there is one.
    pub(crate) written: Option<Vec<WrittenDoc>>,
    /// The events it wrote, by type.
    pub(crate) events: EventTally,
}

/// A unique constraint's failure as [`StoreError::Conflict`], which callers turn into their answer.
pub(super) fn constraint(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(msg.unwrap_or_default())
        }
        other => StoreError::Db(other),
    }
}

impl SqliteTx<'_> {
    /// The `seq` after which a list continues: the end for no cursor, `None` for a cursor that is not
    /// this scope's.
    fn cursor(&self, table: &str, scope: &Scope, after: Option<&str>) -> Result<Option<i64>> {
        let Some(id) = after else { return Ok(Some(i64::MAX)) };
        let sql = format!("SELECT seq FROM {table} WHERE id = ?1 AND account_id = ?2 AND mode = ?3");
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?)
    }

    /// One object of `table` in `scope`, decoded.
    pub(super) fn get_doc<T: DeserializeOwned>(&self, table: &str, scope: &Scope, id: &str) -> Result<Option<T>> {
        let sql = format!("SELECT data FROM {table} WHERE id = ?1 AND account_id = ?2 AND mode = ?3");
        let mut st = self.conn.prepare_cached(&sql)?;
        let row: Option<String> =
            st.query_row(params![id, scope.account_id, scope.mode.as_str()], |r| r.get(0)).optional()?;
        row.map(decode).transpose()
    }

    /// The documents a `SELECT data …` finds, decoded.
    pub(super) fn docs<T: DeserializeOwned>(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows: Vec<String> = st.query_map(args, |r| r.get(0))?.collect::<Result<_, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// A page of `table` in `scope`, newest first. `filters` are `AND …` clauses over `?4` onwards,
    /// bound to `args`.
    pub(super) fn list<T: DeserializeOwned>(
        &self,
        table: &str,
        scope: &Scope,
        page: &PageRequest,
        filters: &str,
        args: &[&dyn ToSql],
    ) -> Result<Option<Page<T>>> {
        let Some(cursor) = self.cursor(table, scope, page.starting_after.as_deref())? else { return Ok(None) };
        let sql = format!(
            "SELECT data FROM {table} WHERE account_id = ?1 AND mode = ?2 AND seq < ?3 {filters}
             ORDER BY seq DESC LIMIT ?{}",
            4 + args.len()
        );
        let (mode, fetch) = (scope.mode.as_str(), (page.limit + 1) as i64);
        let mut all: Vec<&dyn ToSql> = vec![&scope.account_id, &mode, &cursor];
        all.extend_from_slice(args);
        all.push(&fetch);
        Ok(Some(Page::of(self.docs(&sql, &all)?, page.limit)))
    }
}

impl Tx for SqliteTx<'_> {
    fn schema_version(&mut self) -> Result<usize> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize)
    }

    fn runs_alone(&self) -> bool {
        true // the writer's transactions run one at a time; readers never call this
    }

    fn writes(&self) -> u64 {
        self.conn.total_changes()
    }

    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>> {
        TABLES
            .iter()
            .map(|t| {
                let n: i64 = self.conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
                Ok((*t, n))
            })
            .collect()
    }
}
