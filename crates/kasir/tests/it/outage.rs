//! The database going away and coming back, with PostgreSQL reached through a proxy the test controls.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{
    confirm_body, fresh_database, payin_body, postgres_enabled, quick_rules, Backend, Receiver, TestApp, BACKEND,
};

/// A TCP proxy on a fixed local port that can drop every connection and refuse new ones.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Proxy { port, target: target.to_string(), tasks: Arc::default() };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The database is gone: open connections break, new ones are refused.
    fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// The database is back on the same address.
    async fn up(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot rebind the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn through(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let host_end = rest[host_start..].find('/').map(|i| host_start + i).unwrap_or(rest.len());
    format!("{}{}127.0.0.1:{port}{}", &url[..scheme_end], &rest[..host_start], &rest[host_end..])
}

fn host_port(url: &str) -> String {
    let rest = &url[url.find("://").unwrap() + 3..];
    let host_start = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let host_end = rest[host_start..].find('/').map(|i| host_start + i).unwrap_or(rest.len());
    let hp = &rest[host_start..host_end];
    if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:5432")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_requests_fail_fast_and_kasir_recovers_by_itself() {
    if !postgres_enabled() {
        return;
    }
    BACKEND
        .scope(Backend::Postgres, async {
            let db = fresh_database();
            let proxy = Proxy::start(&host_port(&db.url)).await;
            let url = through(&db.url, proxy.port);
            let app = TestApp::spawn_at(db, &url, quick_rules(Duration::from_secs(2)), true).await;
            let receiver = Receiver::start().await;

            let mut body = payin_body(5_000_000);
            body["webhook_url"] = json!(receiver.url);
            let id = app.post("/v3/payin", &body).await.id();
            let c = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
            assert_eq!(c.status, 200);

            proxy.down();
            for path in [format!("/v3/payin/{id}"), "/v3/payin".to_string()] {
                let started = Instant::now();
                let a = app.get(&path).await;
                let took = started.elapsed();
                a.assert_error(503, 102, "");
                assert!(a.headers.get("retry-after").is_some());
                assert!(took < Duration::from_secs(4), "{path} answered in {took:?}: fail fast, do not hang");
            }
            let write = app.post("/v3/payin", &body).await;
            write.assert_error(503, 102, "");

            // The outcome comes due while the database is away.
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert!(receiver.of_type("payin.succeeded").is_empty());
            proxy.up().await;

            // No restart: requests work again, and the outcome that came due meanwhile happens.
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let a = app.get(&format!("/v3/payin/{id}")).await;
                if a.status == 200 && a.data()["status"] == "succeeded" {
                    break;
                }
                assert!(Instant::now() < deadline, "did not recover: {} {}", a.status, a.body);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            receiver.wait_for(15, |h| h.iter().any(|h| h.json()["type"] == "payin.succeeded")).await;
            assert_eq!(app.post("/v3/payin", &body).await.status, 200);
        })
        .await
}

#[test]
fn proxy_urls() {
    assert_eq!(through("postgres://postgres@127.0.0.1:5432/db", 9), "postgres://postgres@127.0.0.1:9/db");
    assert_eq!(through("postgres://u:p@db.local/x?sslmode=disable", 9), "postgres://u:p@127.0.0.1:9/x?sslmode=disable");
    assert_eq!(host_port("postgres://u@db.local/x"), "db.local:5432");
}
