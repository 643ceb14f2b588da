//! Sending one delivery: the HTTP request, its timeout, and where a webhook may go.
//!
//! Live mode sends only over https and never to an address that resolves to loopback, private,
//! link-local, multicast or otherwise special ranges. The check runs in the DNS resolver the HTTP client
//! connects through, so the address vetted is the address dialled (no window for DNS rebinding); IP
//! literals in the URL are checked before the request. Test mode may call any address, so merchants can
//! test against their own machine.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kasir_domain::{Clock, Mode, TryResult};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::is_forbidden;
use crate::sign;

/// One delivery to make: where, what, and the secrets that sign it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Live deliveries follow the live rules (https, public addresses only).
    pub mode: Mode,
    pub url: &'a str,
    pub event_id: &'a str,
    /// The event's `created_at` exactly as the body has it (Tazapay's signature covers it).
    pub created_at: &'a str,
    /// The exact request body.
    pub body: &'a str,
    /// Current secret first; during a rotation's overlap the previous one follows.
    pub secrets: &'a [String],
}

/// Why a live delivery was not made: the target is not one a live webhook may reach. Recorded as the
/// try's error, which starts with `refused:`.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// A resolver that drops forbidden addresses, failing when none is left.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_forbidden(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to addresses that are not globally reachable"
                ))) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Sends deliveries: one client per mode, each keeping its connections alive between deliveries.
#[derive(Clone)]
pub struct Sender {
    test: reqwest::Client,
    live: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl Sender {
    /// `concurrency` deliveries may be in flight at once: as many connections per receiver stay open
    /// between deliveries, so a busy receiver is not dialled again for every event.
    pub fn new(timeout: Duration, concurrency: usize, clock: Arc<dyn Clock>) -> Sender {
        let base = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Kasir-Webhooks/", env!("CARGO_PKG_VERSION")))
                .pool_max_idle_per_host(concurrency.max(1))
        };
        let test = base().build().expect("HTTP client");
        let live = base().https_only(true).dns_resolver(Arc::new(PublicOnly)).build().expect("HTTP client");
        Sender { test, live, clock }
    }

    fn refuse(&self, task: &Outgoing<'_>) -> Option<String> {
        if task.mode == Mode::Test {
            return None;
        }
        let url = match url::Url::parse(task.url) {
            Ok(u) => u,
            Err(e) => return Some(Refused(format!("invalid URL: {e}")).to_string()),
        };
        if url.scheme() != "https" {
            return Some(Refused("live webhooks must use https".into()).to_string());
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        literal
            .filter(|ip| is_forbidden(*ip))
            .map(|ip| Refused(format!("{ip} is not a globally reachable address")).to_string())
    }

    /// Makes one try. Never fails: what went wrong is in the result.
    pub async fn send(&self, task: &Outgoing<'_>) -> TryResult {
        let attempted_at = self.clock.now();
        let started = Instant::now();
        let fail = |error: String| TryResult {
            attempted_at,
            http_status: None,
            latency: started.elapsed(),
            error,
            retry_after: None,
        };
        if let Some(why) = self.refuse(task) {
            return fail(why);
        }
        let timestamp = attempted_at.as_micros().div_euclid(1_000_000);
        let client = if task.mode == Mode::Test { &self.test } else { &self.live };
        let mut req = client.post(task.url).header("content-type", "application/json");
        for (k, v) in sign::headers(task.secrets, task.event_id, task.created_at, task.body, timestamp) {
            req = req.header(k, v);
        }
        match req.body(task.body.to_string()).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| {
                    v.trim().parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
                        let at = httpdate::parse_http_date(v).ok()?;
                        Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
                    })
                });
                let latency = started.elapsed();
                let error = if (200..300).contains(&status) { String::new() } else { format!("HTTP {status}") };
                TryResult { attempted_at, http_status: Some(status), latency, error, retry_after }
            }
            Err(e) if e.is_timeout() => fail("timeout: no answer in time".into()),
            Err(e) => fail(describe(&e)),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    // A target the resolver refused is said as such, not as a failed connection.
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.to_string();
        }
        src = s.source();
    }
    let msg = kasir_domain::error::chain(e);
    if e.is_connect() {
        format!("connection failed: {msg}")
    } else {
        msg
    }
}
