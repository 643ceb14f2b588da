//! Customers in SQLite.

use kasir_domain::Customer;
use rusqlite::params;

use super::tx::{constraint, SqliteTx};
use crate::{CustomerRecords, Result, Scope};

impl CustomerRecords for SqliteTx<'_> {
    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>> {
        self.get_doc("customers", scope, id)
    }

    fn insert_customer(&mut self, scope: &Scope, c: &Customer) -> Result<()> {
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
}
