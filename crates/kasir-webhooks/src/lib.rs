//! Kasir's webhooks: signing (Tazapay's `signature` and Standard Webhooks), where a live webhook may go,
//! and sending one delivery over HTTP with its timeout. The job runner (`kasir-worker`) decides what to
//! send and records what came of it; this crate only speaks HTTP.

pub mod address;
pub mod send;
pub mod sign;

pub use send::{Outgoing, Sender};
