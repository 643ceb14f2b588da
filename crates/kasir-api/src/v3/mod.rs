//! The Tazapay v3 resources, one file each: its handlers and its request types.

pub mod attempts;
pub mod checkouts;
pub mod customers;
pub mod endpoints;
pub mod events;
pub mod payins;
pub mod refunds;
pub mod sandbox;
