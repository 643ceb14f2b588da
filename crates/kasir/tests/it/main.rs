//! Black-box tests: each spawns Kasir on 127.0.0.1:0 with a fresh database and speaks HTTP to it.

#[macro_use]
mod helpers;

mod api_cli;
mod browser;
mod checkout;
mod cli;
mod connections;
mod dashboard;
mod dashboard_browser;
mod docs;
mod endpoints;
mod errors;
mod export;
mod hostile;
mod idempotency;
mod listen;
mod live_ovo;
mod load;
mod openapi;
mod operations;
mod outage;
mod pages;
mod payin;
mod process;
mod refunds;
mod sdk;
mod seed;
mod serve;
mod signatures;
mod snapshots;
mod stream;
mod trigger;
mod wallet;
mod webhooks;
