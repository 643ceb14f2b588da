//! Stored idempotent answers: how long one is replayed, and clearing away those past it.

use std::time::Duration;

use kasir_domain::Timestamp;
use kasir_store::{StoreError, Tx};

/// How long a stored answer is replayed for its `Idempotency-Key`. After it the key is free again, and
/// its record is swept away.
pub const TTL: Duration = Duration::from_secs(24 * 3600);

/// Records one sweep deletes in a transaction: short enough that writes never wait long behind it.
pub const SWEEP_BATCH: usize = 2_000;

/// Deletes up to [`SWEEP_BATCH`] records past their time (oldest first); returns how many.
pub fn sweep(tx: &mut dyn Tx, now: Timestamp) -> Result<usize, StoreError> {
    tx.idem_sweep(now.minus(TTL), SWEEP_BATCH)
}
