//! Connections an attacker holds open: half a request head, nothing at all, or an idle keep-alive, are
//! closed when their bound passes; past the connection limit, new ones are refused at once.

use std::time::{Duration, Instant};

use kasir::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Settings, TestApp};

async fn spawn(header: u64, idle: u64, max: usize) -> TestApp {
    let server = ServerConfig {
        header_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        max_connections: max,
    };
    TestApp::spawn_with(Settings { server, ..Settings::default() }).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// How long until the server closes `conn` (reading and dropping whatever it sends), up to `limit`.
async fn closed_after(conn: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_head_is_closed_at_the_header_timeout() {
    let app = spawn(800, 3000, 100).await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: kasir\r\n").await.unwrap();
    let took = closed_after(&mut conn, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(700) && took < Duration::from_millis(2500), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_and_an_idle_keep_alive_are_closed_at_the_idle_timeout() {
    let app = spawn(500, 1500, 100).await;
    // Nothing sent: the header timeout does not apply (no head began), the idle timeout does.
    let mut silent = connect(&app).await;
    let took = closed_after(&mut silent, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(3500), "closed after {took:?}");

    // A full request on keep-alive is answered, and the connection then lives out its idle time.
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: kasir\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let took = closed_after(&mut kept, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(3500), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_new_connections_are_refused_with_503() {
    let app = spawn(30_000, 30_000, 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = connect(&app).await;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), refused.read_to_end(&mut got)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains(r#""code":102"#), "{text}");

    // One of the held connections goes away: the next one is served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_keep_alive_connection_outlives_both_timeouts() {
    let app = spawn(300, 600, 100).await;
    let mut conn = connect(&app).await;
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: kasir\r\n\r\n").await.unwrap();
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0 && buf.starts_with(b"HTTP/1.1 200"), "answer {answered} after {:?}", started.elapsed());
        answered += 1;
    }
    assert!(answered > 50, "{answered}");
}
