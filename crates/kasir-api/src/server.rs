//! Serving HTTP/1.1: every connection has a bound on how long it may hold its place without sending
//! a request, the number of connections is bounded, and shutdown lets in-flight requests finish.
//!
//! A connection is closed when a request's head has not fully arrived `header_timeout` after its first
//! byte (a client that sends half its headers), or when nothing has moved on it for `idle_timeout` (a
//! client that sends nothing, or idles on keep-alive). A response being streamed is not idle: Kasir's
//! streams write a heartbeat well within the idle timeout. Past `max_connections`, a new connection is
//! answered 503 and closed; the refusals are logged at most once a second.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::Api;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// What a connection's watchdog knows of it: the socket only counts and flags, so the request path
/// reads no clock and wakes nothing; the watchdog looks every tick.
#[derive(Default)]
struct Activity {
    /// Bumped whenever a byte is read or written.
    moved: AtomicU64,
    /// A request head has begun and not yet reached the service.
    head: AtomicBool,
    /// The service has the latest request head, so bytes read now are its body.
    in_request: AtomicBool,
    /// Requests handed to the service so far: a head seen waiting at two looks is the same head only
    /// if none was handed over between them.
    served: AtomicU64,
}

/// The socket, watched: every byte moved is activity, and the first byte of a request begins a head.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let a = &self.activity;
            a.moved.fetch_add(1, Ordering::Relaxed);
            if !a.in_request.load(Ordering::Relaxed) {
                a.head.store(true, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl Watched {
    /// Bytes went out: activity, and once a response is under way the next bytes read are a new head.
    fn wrote(&self) {
        self.activity.moved.fetch_add(1, Ordering::Relaxed);
        self.activity.in_request.store(false, Ordering::Relaxed);
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

tokio::task_local! {
    /// The address of the peer whose connection the current task serves.
    static PEER: SocketAddr;
}

/// The peer of the connection the current request came on (`None` outside a connection's task).
pub fn peer() -> Option<SocketAddr> {
    PEER.try_with(|p| *p).ok()
}

/// The router for one connection: it stops a request head's clock.
#[derive(Clone)]
struct Connection {
    api: Api,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Connection {
    type Response = hyper::Response<Body>;
    type Error = Infallible;
    type Future = crate::edge::Answer;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.in_request.store(true, Ordering::Relaxed);
        self.activity.head.store(false, Ordering::Relaxed);
        self.activity.served.fetch_add(1, Ordering::Relaxed);
        self.api.answer(req)
    }
}

/// How often a watchdog looks: an eighth of the shorter bound, between 20 ms and a second. A bound is
/// enforced within one look of its moment.
fn tick(config: &ServerConfig) -> Duration {
    (config.header_timeout.min(config.idle_timeout) / 8).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// Waits until the connection has broken one of its bounds; returns which.
async fn watchdog(activity: Arc<Activity>, config: ServerConfig) -> &'static str {
    let mut looks = tokio::time::interval(tick(&config));
    looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut seen, mut quiet_since, mut head_since) = (0, Instant::now(), None::<(u64, Instant)>);
    loop {
        looks.tick().await;
        let now = Instant::now();
        let moved = activity.moved.load(Ordering::Relaxed);
        if moved != seen {
            (seen, quiet_since) = (moved, now);
        }
        if activity.head.load(Ordering::Relaxed) {
            let served = activity.served.load(Ordering::Relaxed);
            match head_since {
                Some((n, since)) if n == served => {
                    if now.duration_since(since) >= config.header_timeout {
                        return "header timeout";
                    }
                }
                _ => head_since = Some((served, now)),
            }
        } else {
            head_since = None;
        }
        if now.duration_since(quiet_since) >= config.idle_timeout {
            return "idle timeout";
        }
    }
}

/// Logs a refused connection, at most once a second.
fn log_refusal(max: usize) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST.swap(second, Ordering::Relaxed) != second {
        tracing::warn!(max_connections = max, "refusing connections: --max-connections reached");
    }
}

/// The answer to a connection past the limit: a whole HTTP response, the envelope with code 102.
static REFUSED: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = r#"{"status":"error","message":"too many connections; retry shortly","errors":[{"code":102,"message":"too many connections; retry shortly","remarks":""}]}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Api,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            log_refusal(config.max_connections);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&REFUSED)).await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let service = Connection { api: app.clone(), activity: activity.clone() };
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let conn = graceful.watch(builder.serve_connection(io, service));
        // The connection's requests are answered in this task, so the peer is a task-local for them.
        tokio::spawn(PEER.scope(peer, async move {
            tokio::select! {
                served = conn => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                why = watchdog(activity, config) => tracing::debug!(%peer, "closing the connection: {why}"),
            }
            drop(slot);
        }));
    }
    drop(listener);
    // Streams end now (their clients reconnect elsewhere); other requests finish.
    app.state.closing.send_replace(true);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_well_formed_answer() {
        let text = std::str::from_utf8(&REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["errors"][0]["code"], 102);
    }
}
