//! Rate limits: requests per API key (off unless `--rate-limit N/s` is set), and failed
//! authentications per client address (20 a minute), so keys cannot be guessed at speed. A client's
//! address is the socket's, or the nearest untrusted one in `X-Forwarded-For` when the socket's peer is
//! a trusted proxy. Each API key may also hold at most [`STREAMS_PER_KEY`] event streams open at once on
//! a process.
//! Past a limit the answer is 429, code 110, with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::http::StatusCode;
use kasir_domain::codes;

use crate::ApiError;

/// What the limits are.
#[derive(Debug, Clone, Default)]
pub struct LimitConfig {
    /// Requests a second per API key, with a burst of as many; `None` for no limit.
    pub per_key: Option<u32>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Event streams (`GET /v3/event/stream`) one API key may hold open at once on one process (like the
/// request rate, the count is each process's own). A stream whose client has
/// gone gives its place back when the server sees its connection close, at the latest at its next write
/// (an event, or the 15-second heartbeat).
pub const STREAMS_PER_KEY: usize = 8;

/// Failed authentications a client address may make a minute.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 20;
/// Addresses or keys remembered at most; past it, the ones not held back are forgotten.
const MAX_TRACKED: usize = 100_000;

/// A token bucket: `capacity` tokens, refilled at `rate` a second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets<K> {
    capacity: f64,
    rate: f64,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn new(capacity: u32, per: Duration) -> Buckets<K> {
        Buckets {
            capacity: f64::from(capacity),
            rate: f64::from(capacity) / per.as_secs_f64(),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(wait)` when there is none yet.
    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(key) {
            let (cap, rate) = (self.capacity, self.rate);
            map.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < cap);
        }
        let b = map.entry(key.clone()).or_insert(Bucket { tokens: self.capacity, at: now });
        b.tokens = (b.tokens + self.rate * now.duration_since(b.at).as_secs_f64()).min(self.capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }

    /// Whether `key` has a token now, taking none.
    fn has(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            None => Ok(()),
            Some(b) => {
                let tokens = (b.tokens + self.rate * now.duration_since(b.at).as_secs_f64()).min(self.capacity);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
                }
            }
        }
    }
}

/// The limits in force.
pub struct Limits {
    per_key: Option<Buckets<String>>,
    /// The event streams open, per access key.
    streams: Mutex<HashMap<String, usize>>,
    auth_failures: Buckets<IpAddr>,
    trusted: Vec<ipnet::IpNet>,
}

fn limited(wait: Duration, what: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED, what, "");
    e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u32);
    e
}

impl Limits {
    pub fn new(config: &LimitConfig) -> Limits {
        Limits {
            per_key: config.per_key.filter(|n| *n > 0).map(|n| Buckets::new(n, Duration::from_secs(1))),
            auth_failures: Buckets::new(AUTH_FAILURES_PER_MINUTE, Duration::from_secs(60)),
            streams: Mutex::new(HashMap::new()),
            trusted: config.trusted_proxies.clone(),
        }
    }

    /// A request by `access_key`, which authenticated.
    pub(crate) fn request(&self, access_key: &str) -> Result<(), ApiError> {
        match &self.per_key {
            None => Ok(()),
            Some(b) => b
                .take(&access_key.to_string(), Instant::now())
                .map_err(|wait| limited(wait, "too many requests for this API key; retry after Retry-After seconds")),
        }
    }

    /// Counts a stream `access_key` opens; refused when the key holds [`STREAMS_PER_KEY`] already.
    /// Each stream that is counted is closed with [`Limits::close_stream`].
    pub(crate) fn open_stream(&self, access_key: &str) -> Result<(), ApiError> {
        let mut open = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(access_key.to_string()).or_insert(0);
        if *n >= STREAMS_PER_KEY {
            let what = format!("this API key has {STREAMS_PER_KEY} event streams open already; close one first");
            return Err(limited(Duration::from_secs(15), &what));
        }
        *n += 1;
        Ok(())
    }

    pub(crate) fn close_stream(&self, access_key: &str) {
        let mut open = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(access_key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(access_key);
            }
        }
    }

    /// Before credentials not seen before are checked: refused while the client has used up its failures.
    pub(crate) fn may_try(&self, parts: &Parts) -> Result<(), ApiError> {
        let Some(ip) = self.client(parts) else { return Ok(()) };
        self.auth_failures
            .has(&ip, Instant::now())
            .map_err(|wait| limited(wait, "too many failed authentications from this address; retry later"))
    }

    /// A failed authentication by the client of `parts`.
    pub(crate) fn failed(&self, parts: &Parts) {
        if let Some(ip) = self.client(parts) {
            let _ = self.auth_failures.take(&ip, Instant::now());
        }
    }

    /// The client's address: the socket's peer, or, when that is a trusted proxy, the nearest address
    /// in `X-Forwarded-For` that is not one.
    pub fn client(&self, parts: &Parts) -> Option<IpAddr> {
        self.client_of(crate::server::peer()?.ip(), parts)
    }

    fn client_of(&self, peer: IpAddr, parts: &Parts) -> Option<IpAddr> {
        if !self.trusted.iter().any(|n| n.contains(&peer)) {
            return Some(peer);
        }
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let hops: Vec<IpAddr> = forwarded.flat_map(|v| v.split(',')).filter_map(|s| s.trim().parse().ok()).collect();
        Some(hops.iter().rev().find(|ip| !self.trusted.iter().any(|n| n.contains(*ip))).copied().unwrap_or(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let b: Buckets<u8> = Buckets::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(b.take(&1, t0).is_ok() && b.take(&1, t0).is_ok());
        let wait = b.take(&1, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(b.take(&2, t0).is_ok(), "another key has its own bucket");
        assert!(b.take(&1, t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn a_key_holds_at_most_its_streams_and_a_closed_one_frees_its_place() {
        let limits = Limits::new(&LimitConfig::default());
        for _ in 0..STREAMS_PER_KEY {
            limits.open_stream("ak_test_a").unwrap();
        }
        let refused = limits.open_stream("ak_test_a").unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.retry_after), (429, Some(15)));
        limits.open_stream("ak_test_b").expect("another key has its own");
        limits.close_stream("ak_test_a");
        limits.open_stream("ak_test_a").expect("a place freed");
        for _ in 0..STREAMS_PER_KEY {
            limits.close_stream("ak_test_a");
        }
        assert!(!limits.streams.lock().unwrap().contains_key("ak_test_a"), "nothing kept for a key with none open");
    }

    fn parts(forwarded: Option<&str>) -> Parts {
        let mut req = axum::http::Request::builder();
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let limits = Limits::new(&LimitConfig { per_key: None, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()] });
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            limits.client_of(ip("203.0.113.7"), &parts(Some("1.2.3.4"))),
            Some(ip("203.0.113.7")),
            "untrusted peer"
        );
        assert_eq!(limits.client_of(ip("10.0.0.2"), &parts(Some("1.2.3.4"))), Some(ip("1.2.3.4")));
        assert_eq!(limits.client_of(ip("10.0.0.2"), &parts(Some("9.9.9.9, 1.2.3.4, 10.0.0.9"))), Some(ip("1.2.3.4")));
        assert_eq!(limits.client_of(ip("10.0.0.2"), &parts(None)), Some(ip("10.0.0.2")));
    }
}
