//! `GET /v3/event/stream`: the account's events as they commit, as server-sent events, resumable with
//! `Last-Event-ID` with nothing skipped or repeated, on SQLite and across PostgreSQL's out-of-order
//! commits; closed at once by SIGTERM.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{confirm, new_payin, TestApp};

/// An open event stream.
pub struct Stream {
    res: reqwest::Response,
    buf: String,
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub kind: String,
    pub data: Value,
}

impl Stream {
    pub async fn open(base: &str, auth: &str, last: Option<&str>) -> Stream {
        let http = reqwest::Client::new();
        let mut req = http.get(format!("{base}/v3/event/stream")).header("authorization", auth);
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("stream");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Stream { res, buf: String::new() }
    }

    /// The next event within `secs`; `None` when none came (or the stream ended).
    pub async fn next(&mut self, secs: u64) -> Option<Sent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let field =
                    |name: &str| frame.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_string()));
                if let (Some(id), Some(kind), Some(data)) = (field("id:"), field("event:"), field("data:")) {
                    return Some(Sent { id, kind, data: serde_json::from_str(&data).expect("JSON data") });
                }
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }

    /// The `id:` of the stream's first frame (where it started), within `secs`.
    pub async fn start_token(&mut self, secs: u64) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                return frame.lines().find_map(|l| l.strip_prefix("id:").map(|v| v.trim().to_string()));
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }

    /// Whether a comment frame (`:…`) comes within `secs`.
    pub async fn comment(&mut self, secs: u64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if self.buf.split("\n\n").any(|f| f.starts_with(':')) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return false,
            }
        }
    }

    /// The next `n` events, each within 5 s.
    pub async fn take(&mut self, n: usize) -> Vec<Sent> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next(5).await.unwrap_or_else(|| panic!("only {} of {n} events came: {out:?}", out.len())));
        }
        out
    }
}

/// The ids of an object's events, oldest first, as the API lists them.
async fn event_ids(app: &TestApp, object: &str) -> Vec<String> {
    let events = app.kasir.events(kasir_client::ListParams::default().filter("object_id", object)).all().await;
    events.unwrap().into_iter().rev().map(|e| e.id).collect()
}

backend_tests! {
async fn the_stream_sends_events_as_they_commit_and_resumes_after_last_event_id_exactly() {
    let app = TestApp::spawn().await;
    let before = app.create_payin(5_000_000).await;
    let mut s = Stream::open(&app.base, &app.test_auth, None).await;
    let b = app.create_payin(5_000_000).await;
    let attempt = app.kasir.confirm_payin_with(&b, &confirm("81234567890")).await.unwrap().latest_payment_attempt;
    // A live payin's events are not a test key's.
    app.live.create_payin(&new_payin(5_000_000)).await.unwrap();
    let mut want = event_ids(&app, &b).await;
    want.extend(event_ids(&app, &attempt).await);
    assert!(want.len() >= 3, "{want:?}");
    let first = s.take(2).await;
    assert!(first.iter().all(|e| e.data["id"] == e.id.as_str()), "the data is the event");
    assert!(first.iter().all(|e| e.data["data"]["id"] != before.as_str()), "not from before the stream began");
    drop(s);

    // Meanwhile, another payin; the stream resumed after the second event gets exactly the rest.
    let c = app.create_payin(6_000_000).await;
    let mut resumed = Stream::open(&app.base, &app.test_auth, Some(&first[1].id)).await;
    let c_events = event_ids(&app, &c).await;
    let rest = resumed.take(want.len() - 2 + c_events.len()).await;
    let mut got: Vec<String> = first.iter().chain(&rest).map(|e| e.id.clone()).collect();
    assert!(resumed.next(1).await.is_none(), "nothing more, nothing repeated");
    let mut all = want.clone();
    all.extend(c_events);
    got.sort();
    all.sort();
    assert_eq!(got, all, "every event once");
    for e in &rest {
        assert_eq!(e.data["type"], e.kind.as_str());
    }

    // A stream's first frame names where it started: resuming from there, before any event, misses none.
    let mut fresh = Stream::open(&app.base, &app.test_auth, None).await;
    let start = fresh.start_token(5).await.expect("a start position");
    assert!(start.starts_with("pos_"), "{start}");
    drop(fresh);
    let d = app.create_payin(7_000_000).await;
    let mut from_start = Stream::open(&app.base, &app.test_auth, Some(&start)).await;
    assert_eq!(from_start.next(5).await.unwrap().data["data"]["id"], d.as_str());
    drop(from_start);
    let garbled = app.send("GET", "/v3/event/stream", Some(&app.test_auth), &[("last-event-id", "pos_x")], None).await;
    garbled.assert_error(400, 1002, "Last-Event-ID");

    let unknown = app.send("GET", "/v3/event/stream", Some(&app.test_auth), &[("last-event-id", "evt_nope")], None).await;
    unknown.assert_error(400, 1002, "Last-Event-ID");
    let other_mode = app.send("GET", "/v3/event/stream", Some(&app.live_auth), &[("last-event-id", &first[0].id)], None).await;
    other_mode.assert_error(400, 1002, "Last-Event-ID");
}
}

/// A transaction that began before another and commits after it: a stream must not send the later one's
/// events first and so skip the earlier one's (PostgreSQL hands out `seq` at insert, not at commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_event_committed_late_is_not_skipped() {
    if !crate::helpers::postgres_enabled() {
        return;
    }
    crate::helpers::BACKEND
        .scope(crate::helpers::Backend::Postgres, async {
            let app = TestApp::spawn().await;
            let account = app.account().await;
            let mut s = Stream::open(&app.base, &app.test_auth, None).await;
            // A transaction that writes an event and waits before it commits.
            let (commit, wait) = std::sync::mpsc::channel::<()>();
            let (inserted, is_inserted) = std::sync::mpsc::channel::<()>();
            let url = app.database_url().to_string();
            let held = std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let mut t = c.transaction().unwrap();
                let data = json!({"id": "evt_heldheldheldheldheld", "object": "event", "type": "payin.created",
                    "created_at": "2026-12-06T00:00:00Z", "data": {"id": "pay_heldheldheldheldheld"}});
                t.execute(
                    "INSERT INTO events (id, account_id, mode, type, object_id, created_at, data)
                     VALUES ('evt_heldheldheldheldheld', $1, 'test', 'payin.created', 'pay_heldheldheldheldheld', 0, $2)",
                    &[&account, &data.to_string()],
                )
                .unwrap();
                inserted.send(()).unwrap();
                wait.recv().unwrap();
                t.commit().unwrap();
            });
            tokio::task::spawn_blocking(move || is_inserted.recv().unwrap()).await.unwrap();
            // A later transaction commits first: its events wait for the earlier one.
            let p = app.create_payin(5_000_000).await;
            assert!(s.next(1).await.is_none(), "nothing is sent while an earlier transaction is open");
            commit.send(()).unwrap();
            held.join().unwrap();
            let sent = s.take(2).await;
            assert_eq!(sent[0].id, "evt_heldheldheldheldheld", "the earlier transaction's event first");
            assert_eq!(sent[1].data["data"]["id"], p.as_str());
        })
        .await
}

/// An idle stream gets a comment every 15 s (so proxies and Kasir's own idle timeout keep it open), and
/// SIGTERM ends it at once.
#[tokio::test]
async fn an_idle_stream_gets_a_heartbeat_and_sigterm_closes_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kasir.db").display());
    crate::serve::add_seed_keys(&db);
    let (child, addr) = crate::serve::spawn_serve(&db, &[]);
    let auth = crate::helpers::basic(crate::helpers::SEED_ACCESS_KEY, crate::helpers::SEED_SECRET_KEY);
    let mut s = Stream::open(&format!("http://{addr}"), &auth, None).await;
    assert!(s.comment(17).await, "a heartbeat within 15 s");
    let started = std::time::Instant::now();
    crate::serve::sigterm(child).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown did not wait for the stream: {:?}",
        started.elapsed()
    );
    assert!(s.next(2).await.is_none(), "the stream ended");
}

/// The answer to opening a stream with the test key: its status and headers, and the body of a refusal.
async fn opens(app: &TestApp) -> crate::helpers::Answer {
    let res = app
        .http
        .get(format!("{}/v3/event/stream", app.base))
        .header("authorization", &app.test_auth)
        .send()
        .await
        .unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    let bytes = if status == 200 { Vec::new() } else { res.bytes().await.unwrap().to_vec() };
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    crate::helpers::Answer { status, body, bytes, headers }
}

backend_tests! {
async fn a_key_holds_at_most_eight_streams_and_one_that_closes_gives_its_place_back() {
    let app = TestApp::spawn().await;
    // Refused streams take no place.
    for _ in 0..10 {
        let garbled = app.send("GET", "/v3/event/stream", Some(&app.test_auth), &[("last-event-id", "pos_x")], None).await;
        garbled.assert_error(400, 1002, "Last-Event-ID");
    }
    let mut open = Vec::new();
    for _ in 0..kasir_api::limits::STREAMS_PER_KEY {
        open.push(Stream::open(&app.base, &app.test_auth, None).await);
    }
    let ninth = opens(&app).await;
    ninth.assert_error(429, 110, "");
    assert_eq!(ninth.headers["retry-after"], "15");
    // Another key has its own.
    let live = Stream::open(&app.base, &app.live_auth, None).await;
    drop(live);
    // A client that goes away gives its place back: when its connection closes, or at the latest when
    // the server next writes to it (an event, as here, or the heartbeat).
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let started = std::time::Instant::now();
    loop {
        app.create_payin(5_000_000).await;
        let again = opens(&app).await;
        if again.status != 429 {
            assert_eq!(again.status, 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the closed stream's place was never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("a closed stream's place came back after {} ms", started.elapsed().as_millis());
}
}
