//! What a use case can fail with: a rule of the domain, or the store.

use kasir_domain::DomainError;
use kasir_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
