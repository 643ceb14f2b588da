//! A minimal HTTP/1.1 load generator: keep-alive connections, one request in flight each, latencies in
//! an HDR histogram. Lighter than any general client, so the machine's two cores go to the server.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request, ready to send.
#[derive(Clone)]
pub struct Request {
    pub bytes: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Request {
        let mut s = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        for (k, v) in headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method != "GET" {
            s.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        s.push_str("\r\n");
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(body);
        Request { bytes }
    }
}

pub struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// An answer: status, the cookies it sets (`name=value`), and body.
pub struct Answer {
    pub status: u16,
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl Conn {
    pub fn new(addr: &str) -> Conn {
        Conn { addr: addr.to_string(), stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    pub async fn send(&mut self, req: &Request) -> std::io::Result<Answer> {
        match self.try_send(req).await {
            Ok(a) => Ok(a),
            Err(_) => {
                // The server may have closed an idle keep-alive connection: one fresh try.
                self.stream = None;
                self.try_send(req).await
            }
        }
    }

    async fn try_send(&mut self, req: &Request) -> std::io::Result<Answer> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().expect("connected");
        stream.write_all(&req.bytes).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
        let mut len = None;
        let mut close = false;
        let mut cookies = Vec::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("set-cookie") {
                    cookies.push(v.trim().split(';').next().unwrap_or("").to_string());
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(bad("chunked answers are not supported"));
                }
            }
        }
        let len = len.ok_or_else(|| bad("no content-length"))?;
        while self.buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed mid-body"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        if close {
            self.stream = None;
        }
        Ok(Answer { status, cookies, body })
    }
}

fn bad(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a run measured.
pub struct Stats {
    pub ok: u64,
    pub failed: u64,
    pub secs: f64,
    pub hist: Histogram<u64>,
    /// Bodies of some successful answers (for ids).
    pub samples: Vec<Vec<u8>>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    /// A latency percentile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

/// `concurrency` connections, each sending as fast as answers come, for `duration`. `pick(i)` chooses
/// the request for the i-th send of a connection.
pub async fn closed_loop<F>(addr: &str, concurrency: usize, duration: Duration, keep: usize, pick: F) -> Stats
where
    F: Fn(usize, usize) -> Request + Send + Sync + Clone + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (addr, pick) = (addr.to_string(), pick.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&addr);
            let (mut hist, mut ok, mut failed, mut samples) = (histogram(), 0u64, 0u64, Vec::new());
            let mut i = 0;
            while Instant::now() < deadline {
                let req = pick(c, i);
                i += 1;
                let t = Instant::now();
                match conn.send(&req).await {
                    Ok(a) if (200..300).contains(&a.status) => {
                        ok += 1;
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                        if samples.len() < keep {
                            samples.push(a.body);
                        }
                    }
                    _ => failed += 1,
                }
            }
            (hist, ok, failed, samples)
        }));
    }
    let mut stats = Stats { ok: 0, failed: 0, secs: 0.0, hist: histogram(), samples: Vec::new() };
    for t in tasks {
        let (h, ok, failed, samples) = t.await.expect("load task");
        stats.hist.add(h).expect("merge");
        stats.ok += ok;
        stats.failed += failed;
        stats.samples.extend(samples);
    }
    stats.secs = start.elapsed().as_secs_f64();
    stats
}

/// Offers `rate` requests per second for `duration` over up to `workers` connections. Latency counts
/// from when each request was due, so a server that stalls shows it as latency, not as a lower rate.
///
/// The arrivals are timed by a thread of their own (`nanosleep`, tens of microseconds late at worst),
/// not by the async runtime's timer, which fires on whole milliseconds and would add up to a
/// millisecond to every latency measured.
pub async fn open_loop<F>(addr: &str, rate: f64, duration: Duration, workers: usize, pick: F) -> Stats
where
    F: Fn(usize) -> Request + Send + Sync + Clone + 'static,
{
    let total = (rate * duration.as_secs_f64()) as usize;
    let start = Instant::now() + Duration::from_millis(20);
    let give_up = start + duration + Duration::from_secs(10);
    let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    std::thread::spawn(move || {
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if due_tx.send((i, due)).is_err() {
                return;
            }
        }
    });
    let due_rx = std::sync::Arc::new(tokio::sync::Mutex::new(due_rx));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (addr, pick, due_rx) = (addr.to_string(), pick.clone(), due_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&addr);
            let (mut hist, mut ok, mut failed) = (histogram(), 0u64, 0u64);
            loop {
                let next = due_rx.lock().await.recv().await;
                let Some((i, due)) = next else { break };
                if Instant::now() > give_up {
                    failed += 1;
                    continue;
                }
                match conn.send(&pick(i)).await {
                    Ok(a) if (200..300).contains(&a.status) => {
                        ok += 1;
                        let _ = hist.record(due.elapsed().as_micros() as u64);
                    }
                    _ => failed += 1,
                }
            }
            (hist, ok, failed)
        }));
    }
    let mut stats = Stats { ok: 0, failed: 0, secs: 0.0, hist: histogram(), samples: Vec::new() };
    for t in tasks {
        let (h, ok, failed) = t.await.expect("load task");
        stats.hist.add(h).expect("merge");
        stats.ok += ok;
        stats.failed += failed;
    }
    stats.secs = (Instant::now() - start).as_secs_f64().max(duration.as_secs_f64());
    stats
}

/// Sends exactly `total` requests over `concurrency` connections as fast as answers come; returns how
/// many succeeded.
pub async fn closed_loop_count<F>(addr: &str, concurrency: usize, total: usize, pick: F) -> usize
where
    F: Fn(usize) -> Request + Send + Sync + Clone + 'static,
{
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, pick, next) = (addr.to_string(), pick.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&addr);
            let mut ok = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return ok;
                }
                if let Ok(a) = conn.send(&pick(i)).await {
                    if (200..300).contains(&a.status) {
                        ok += 1;
                    }
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    ok
}
