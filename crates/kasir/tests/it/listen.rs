//! `kasir listen`: a server's events forwarded to a local receiver, signed as real deliveries with a
//! secret that stays the same between runs, and none lost or doubled when the server restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{Receiver, SEED_ACCESS_KEY, SEED_SECRET_KEY};
use crate::serve::{add_seed_keys, sigterm};

/// `kasir listen`, its output lines arriving on a channel.
struct Listening {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Listening {
    fn start(api_url: &str, forward_to: &str, config: &std::path::Path, extra: &[&str]) -> Listening {
        let mut child = crate::serve::remote(api_url, &[&["listen", "--forward-to", forward_to], extra].concat())
            .env("KASIR_CONFIG_DIR", config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kasir listen");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        std::thread::spawn(move || BufReader::new(err).lines().map_while(Result::ok).for_each(|l| drop(tx2.send(l))));
        Listening { child, lines }
    }

    /// The next line that contains `text`, within `secs`.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(text) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("kasir listen never printed {text:?}; it printed:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kasir serve` on a fixed port, so that a restart is at the same address.
fn serve_on(db: &str, port: u16) -> Child {
    crate::serve::start_at(db, &format!("127.0.0.1:{port}"), &["--sandbox-delay", "1h"], false).child
}

/// Stops the server, sees `listen` notice, and starts it again at the same address.
async fn restart(server: Child, listening: &Listening, db: &str, port: u16) -> Child {
    sigterm(server).await;
    listening.wait_for("the stream ended", 10);
    serve_on(db, port)
}

/// A payin created and confirmed through the SDK; its id.
async fn pay(kasir: &kasir_client::Client) -> String {
    let new = kasir_client::NewPayin::new("IDR", 5_000_000, "1 X Good")
        .confirm_with(kasir_client::Phone::indonesian("081234567890"));
    kasir.create_payin(&new).await.expect("a payin").id
}

/// Every event id of the account, newest first.
async fn all_events(kasir: &kasir_client::Client) -> Vec<String> {
    let events = kasir.events(kasir_client::ListParams::default()).all().await.expect("events");
    events.into_iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_signed_events_and_loses_none_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kasir.db").display());
    add_seed_keys(&db);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve_on(&db, port);
    let http = kasir_client::Client::new(&base, SEED_ACCESS_KEY, SEED_SECRET_KEY);
    pay(&http).await; // before listen: not forwarded
    let before = all_events(&http).await.len();

    let receiver = Receiver::start().await;
    let config = dir.path().join("config");
    let listening = Listening::start(&base, &receiver.url, &config, &[]);
    let secret_line = listening.wait_for("Signing secret", 10);
    let secret = secret_line.split_whitespace().last().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret_line}");
    listening.wait_for("Ready", 10);

    // The server goes away before any event, and comes back at the same address: what happens while
    // listen reconnects is not lost (it resumes from the stream's first position).
    let server = restart(server, &listening, &db, port).await;
    let first = pay(&http).await;
    listening.wait_for("resumed from where it started", 15);
    listening.wait_for("payin.requires_action", 10);
    // And again mid-stream.
    let server = restart(server, &listening, &db, port).await;
    // Events made while listen reconnects are not lost.
    let second = pay(&http).await;
    listening.wait_for("resumed after", 15);
    let third = pay(&http).await;
    let all = all_events(&http).await;
    let want = all.len() - before;
    let hits = receiver.wait_for(15, |h| h.len() >= want).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = if receiver.hits().len() > hits.len() { receiver.hits() } else { hits };
    let mut got: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    got.sort();
    let mut expected: Vec<String> = all[..want].to_vec();
    expected.sort();
    assert_eq!(got, expected, "every event after listen began, once each");
    for id in [&first, &second, &third] {
        assert!(hits.iter().any(|h| h.json()["data"]["id"] == id.as_str()), "{id} forwarded");
    }
    // Signed exactly as a real delivery, with listen's own secret.
    let h = &hits[0];
    let body = String::from_utf8(h.body.clone()).unwrap();
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    let created_at = event["created_at"].as_str().unwrap();
    assert_eq!(h.header("signature"), kasir_webhooks_signature(&secret, &h.header("webhook-id"), &body, created_at));
    assert!(h.header("webhook-signature").starts_with("v1,"));
    drop(listening);

    // The secret is the same on the next run for this server and key; only types asked for are sent.
    let receiver2 = Receiver::start().await;
    let again = Listening::start(&base, &receiver2.url, &config, &["--events", "payin.requires_action"]);
    assert_eq!(again.wait_for("Signing secret", 10).split_whitespace().last().unwrap(), secret);
    again.wait_for("Ready", 10);
    pay(&http).await;
    let only = receiver2.wait_for(10, |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver2.hits().len(), 1);
    assert_eq!(only[0].json()["type"], "payin.requires_action");
    drop(again);
    sigterm(server).await;
}

/// Tazapay's signature, computed here as a merchant would: base64(HMAC-SHA256(secret, id + body + created_at)).
fn kasir_webhooks_signature(secret: &str, id: &str, body: &str, created_at: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(id.as_bytes());
    mac.update(body.as_bytes());
    mac.update(created_at.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn a_live_key_is_refused_without_live() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["listen", "--forward-to", "http://127.0.0.1:9/hook"])
        .env("KASIR_API_KEY", "ak_live_AAAAAAAAAAAAAAAAAAAA:sk_live_x")
        .env("KASIR_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("--live"), "{text}");
    let none = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["listen", "--forward-to", "http://127.0.0.1:9/hook"])
        .env_remove("KASIR_API_KEY")
        .env("KASIR_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&none.stderr).contains("KASIR_API_KEY"));
}
