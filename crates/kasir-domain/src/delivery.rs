//! Webhook deliveries: each try's record, what a try came to, and the retry schedule.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One try at delivering an event to a webhook URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub object: String,
    pub event: String,
    pub url: String,
    /// 1 for the first try of a delivery, counting up through its retries.
    pub attempt: u32,
    pub attempted_at: Timestamp,
    /// The receiver's HTTP status, or `null` when no answer arrived.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// Why the try failed (timeout, connection refused, non-2xx, refused address); `""` on success.
    pub error: String,
    pub succeeded: bool,
    /// When the next try is due, or `null` when none will follow.
    pub next_attempt_at: Option<Timestamp>,
}

/// How long to wait after each failed try before the next: the whole retry schedule, in one place.
/// Sixteen tries over about 3.2 days; the first retry comes after one second, as Tazapay's does.
pub const RETRY_SCHEDULE: [std::time::Duration; 15] = {
    use std::time::Duration as D;
    [
        D::from_secs(1),
        D::from_secs(5),
        D::from_secs(30),
        D::from_secs(2 * 60),
        D::from_secs(5 * 60),
        D::from_secs(30 * 60),
        D::from_secs(3600),
        D::from_secs(2 * 3600),
        D::from_secs(4 * 3600),
        D::from_secs(8 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
        D::from_secs(12 * 3600),
    ]
};

/// The longest `Retry-After` a receiver can ask for.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The wait before try `tries + 1`, or `None` when `tries` tries were the last. `jitter` in [-1, 1]
/// moves the wait by up to a tenth either way; a receiver's `Retry-After` lengthens it (up to a day).
pub fn retry_delay(tries: u32, retry_after: Option<std::time::Duration>, jitter: f64) -> Option<std::time::Duration> {
    let base = *RETRY_SCHEDULE.get(tries.checked_sub(1)? as usize)?;
    let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    Some(match retry_after {
        Some(ra) => jittered.max(ra.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// What one try of a delivery came to.
#[derive(Debug, Clone)]
pub struct TryResult {
    pub attempted_at: Timestamp,
    pub http_status: Option<u16>,
    pub latency: std::time::Duration,
    /// Why it failed; empty when the receiver answered 2xx.
    pub error: String,
    /// The receiver's `Retry-After`, if any.
    pub retry_after: Option<std::time::Duration>,
}

impl TryResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_empty() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_span_about_three_days_and_start_within_seconds() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(3 * 86400) && total < Duration::from_secs(4 * 86400), "{total:?}");
        assert_eq!(retry_delay(1, None, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(RETRY_SCHEDULE.len() as u32 + 1, None, 0.0), None);
        assert_eq!(retry_delay(0, None, 0.0), None);
    }

    #[test]
    fn jitter_and_retry_after() {
        assert_eq!(retry_delay(2, None, 1.0), Some(Duration::from_millis(5500)));
        assert_eq!(retry_delay(2, None, -1.0), Some(Duration::from_millis(4500)));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(60)), 0.0), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(999_999)), 0.0), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_delay(3, Some(Duration::from_secs(2)), 0.0), Some(Duration::from_secs(30)));
    }
}
