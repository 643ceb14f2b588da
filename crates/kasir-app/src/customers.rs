//! Customers: the people who pay, as the merchant describes them.

use kasir_domain::{Customer, CustomerDetails, DomainError};
use kasir_store::{Scope, Tx};
use serde_json::{Map, Value};

use crate::{AppError, Ctx};

pub fn load(tx: &mut dyn Tx, scope: &Scope, id: &str, remarks: &str) -> Result<Customer, AppError> {
    tx.customer(scope, id)?.ok_or_else(|| DomainError::not_found("customer", id, remarks).into())
}

pub fn create(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    details: CustomerDetails,
    reference_id: String,
    metadata: Option<Map<String, Value>>,
) -> Result<Customer, AppError> {
    let c = Customer::new(&details, reference_id, metadata, ctx.now);
    tx.insert_customer(&ctx.scope, &c)?;
    Ok(c)
}
