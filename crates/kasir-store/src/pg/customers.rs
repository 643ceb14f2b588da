//! Customers in PostgreSQL.

use kasir_domain::Customer;

use super::batch::INSERT_CUSTOMER;
use super::tx::PgTx;
use crate::{CustomerRecords, Result, Scope};

impl CustomerRecords for PgTx<'_> {
    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>> {
        self.doc("customers", scope, id, false)
    }

    fn insert_customer(&mut self, scope: &Scope, c: &Customer) -> Result<()> {
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
}
