//! Kasir's webhooks and workers: signing (Tazapay's `signature` and Standard Webhooks), sending with
//! timeouts and SSRF protection, and the worker loop that runs the durable jobs.

pub mod send;
pub mod sign;
pub mod worker;

pub use worker::{run, WorkerConfig};
