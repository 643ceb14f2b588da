//! Kasir's application layer: the use cases, written once over the store's [`Tx`], that the HTTP API,
//! the job runner and the CLI all call. Each loads what it needs, lets the domain decide, and persists the
//! new state with its events (the outbox) and its jobs (timers, wallet calls) in the same transaction.
//!
//! Layout: `payins`, `attempts`, `checkouts`, `customers`, `refunds` (the objects' use cases); `outbox` (events and
//! their webhook deliveries); `timers` (durable timers: sandbox answers, expiries); `wallet` (the
//! [`Wallet`] seam, its sandbox, and the wallet calls a job makes outside any transaction); `sandbox`
//! (the test-mode controls); `pages` (what a hosted page shows, found by its token); `accounts` and `keys` (accounts, API keys, signing secrets, event types); `users` (the dashboard's users, their passwords and the audit log).

pub mod accounts;
pub mod attempts;
pub mod checkouts;
pub mod customers;
pub mod endpoints;
mod error;
pub mod idempotency;
pub mod keys;
pub mod outbox;
pub mod pages;
pub mod payins;
pub mod refunds;
pub mod reports;
pub mod sandbox;
pub mod sessions;
pub mod timers;
pub mod totp;
pub mod users;
pub mod wallet;

use std::sync::Arc;

pub use error::AppError;
use kasir_domain::{Clock, PayinRules, Timestamp};
use kasir_store::{Scope, Store, Tx};
use tokio::sync::Notify;
pub use wallet::{Wallet, Wallets};

/// Who acts, when, under which rules, with which wallets: what every use case is given.
#[derive(Clone)]
pub struct Ctx {
    pub scope: Scope,
    pub now: Timestamp,
    pub rules: PayinRules,
    pub wallets: Wallets,
    /// Where the hosted pages are served (`--public-url`), for the `url` of a checkout.
    pub pages: Arc<str>,
}

/// The application: the store and everything the use cases share. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub rules: PayinRules,
    pub wallets: Wallets,
    /// Told when a write may have made work due, so the workers need not wait for their next poll.
    pub wake: Arc<Notify>,
    /// Where the hosted pages are served.
    pub pages: Arc<str>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>, rules: PayinRules, wallets: Wallets, pages: &str) -> App {
        App { store, clock, rules, wallets, wake: Arc::new(Notify::new()), pages: pages.trim_end_matches('/').into() }
    }

    /// The context of a use case run now on behalf of `scope`.
    pub fn ctx(&self, scope: Scope) -> Ctx {
        Ctx {
            scope,
            now: self.clock.now(),
            rules: self.rules,
            wallets: self.wallets.clone(),
            pages: self.pages.clone(),
        }
    }

    /// Runs a use case as one write transaction for `scope`, and wakes the workers after it commits.
    pub async fn write<T, F>(&self, scope: Scope, mut op: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx, &Ctx) -> Result<T, AppError> + Send + 'static,
    {
        let ctx = self.ctx(scope);
        let out = self.store.write(move |tx| op(tx, &ctx)).await?;
        self.wake.notify_one();
        Ok(out)
    }
}
