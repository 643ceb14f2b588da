//! Serving HTTP/1.1: every connection has a bound on how long it may hold its place without sending
//! a request, the number of connections is bounded, and shutdown lets in-flight requests finish.
//!
//! A connection is closed when a request's head has not fully arrived `header_timeout` after its first
//! byte (a client that sends half its headers), or when nothing has moved on it for `idle_timeout` while
//! no request is being answered (a client that sends nothing, or idles on keep-alive). A response being
//! streamed is a request being answered, so it is never idle. Past `max_connections`, a new connection
//! is answered 503 and closed; the refusals are logged at most once a second.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service as _;

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

/// What a connection's watchdog knows of it. Times are milliseconds since the connection opened.
struct Activity {
    opened: Instant,
    /// The last byte read or written.
    last: AtomicU64,
    /// When the first byte of a request head arrived that has not reached the service; 0 for none.
    head_since: AtomicU64,
    /// Requests the service is answering (until their response body is sent or dropped).
    busy: AtomicUsize,
    /// Wakes the watchdog when a request head begins, so its clock starts then.
    head_began: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            head_began: tokio::sync::Notify::new(),
        })
    }

    /// Milliseconds since the connection opened, never 0 (0 marks "no head waiting").
    fn now(&self) -> u64 {
        (self.opened.elapsed().as_millis() as u64).max(1)
    }
}

/// The socket, watched: every byte moved is activity, and the first byte of a request starts its head's clock.
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
            let now = a.now();
            a.last.store(now, Ordering::Relaxed);
            if a.busy.load(Ordering::Relaxed) == 0
                && a.head_since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                a.head_began.notify_one();
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.last.store(self.activity.now(), Ordering::Relaxed);
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
            self.activity.last.store(self.activity.now(), Ordering::Relaxed);
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

/// Counts a request as being answered until its response body is done with.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its request's [`Busy`] mark until it is sent or dropped.
struct TrackedBody {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The router for one connection: it marks requests busy and tells handlers who connected.
#[derive(Clone)]
struct Connection {
    router: Router,
    activity: Arc<Activity>,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Connection {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.busy.fetch_add(1, Ordering::Relaxed);
        self.activity.head_since.store(0, Ordering::Relaxed);
        let busy = Busy(self.activity.clone());
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let mut router = self.router.clone();
        Box::pin(async move {
            let res = match router.call(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            Ok(res.map(|inner| TrackedBody { inner, _busy: busy }))
        })
    }
}

/// Waits until the connection has broken one of its bounds; returns which.
async fn watchdog(activity: Arc<Activity>, config: ServerConfig) -> &'static str {
    let (header, idle) = (config.header_timeout.as_millis() as u64, config.idle_timeout.as_millis() as u64);
    loop {
        let now = activity.now();
        let head = activity.head_since.load(Ordering::Relaxed);
        let busy = activity.busy.load(Ordering::Relaxed) > 0;
        let last = activity.last.load(Ordering::Relaxed);
        let wake = if head != 0 {
            if now >= head + header {
                return "header timeout";
            }
            head + header
        } else if !busy {
            if now >= last + idle {
                return "idle timeout";
            }
            last + idle
        } else {
            now + idle.min(1000) // answering: look again soon
        };
        let sleep = tokio::time::sleep(Duration::from_millis(wake.saturating_sub(now).max(1)));
        tokio::select! {
            _ = sleep => {}
            _ = activity.head_began.notified() => {}
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
    app: Router,
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
        let activity = Activity::new();
        let service = Connection { router: app.clone(), activity: activity.clone(), peer };
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let conn = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                served = conn => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                why = watchdog(activity, config) => tracing::debug!(%peer, "closing the connection: {why}"),
            }
            drop(slot);
        });
    }
    drop(listener);
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
