//! `GET /v3/event/stream`: the account's events as they commit, read as server-sent events. An
//! [`EventStream`] reconnects by itself when the server or the network goes away and resumes after the
//! last event it gave (`Last-Event-ID`), so across a reconnect no event is skipped or given twice.

use std::collections::VecDeque;
use std::time::Duration;

use crate::{Client, Error, Event};

/// How long a stream may be silent (Kasir sends a heartbeat every 15 s) before it is taken for dead.
const SILENCE: Duration = Duration::from_secs(45);

/// What [`EventStream::next`] gives.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// The stream is open; `resumed_after` is where it took up again (an event id, or the position
    /// where an earlier connection started), `None` on the first connection.
    Connected { resumed_after: Option<String> },
    /// An event, and its `data` exactly as the server sent it (the bytes a webhook would carry).
    Event { event: Event, raw: String },
    /// An event this client cannot read (a newer server's shape): its id and bytes, and why. The
    /// stream goes on past it.
    Unreadable { id: String, raw: String, error: String },
    /// The connection went away (why); the next call reconnects after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
}

/// The account's events, from now or from after a given event, for as long as it is read.
///
/// ```no_run
/// # async fn run() -> Result<(), kasir_client::Error> {
/// use kasir_client::{stream::StreamItem, Client};
///
/// let kasir = Client::new("http://127.0.0.1:8080", "ak_test_…", "sk_test_…");
/// let mut events = kasir.event_stream(None);
/// loop {
///     if let StreamItem::Event { event, .. } = events.next().await? {
///         println!("{} {}", event.kind, event.id);
///     }
/// }
/// # }
/// ```
pub struct EventStream {
    client: Client,
    http: reqwest::Client,
    /// The id of the last thing given: an event's, or the position a connection started at.
    last: Option<String>,
    open: Option<reqwest::Response>,
    buf: Vec<u8>,
    wait: Duration,
    /// Read and not yet given, each with the id that becomes the position once it is given (a
    /// position frame has no item).
    pending: VecDeque<(Option<StreamItem>, String)>,
    retry_in: Option<Duration>,
}

impl Client {
    /// The account's events as they commit: from now, or from just after `after` (an event id, or a
    /// position a stream gave).
    pub fn event_stream(&self, after: Option<&str>) -> EventStream {
        EventStream {
            client: self.clone(),
            http: reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            last: after.map(str::to_string),
            open: None,
            buf: Vec::new(),
            wait: Duration::from_secs(1),
            pending: VecDeque::new(),
            retry_in: None,
        }
    }
}

impl EventStream {
    /// Where a new stream would take up from: just after the last event given (or the position the
    /// connection started at, before any). Saved after each event, it resumes with nothing skipped.
    pub fn position(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// The next thing that happens. An error only for what reconnecting cannot mend: a key the
    /// server refuses (401) or a position it does not know (400); a later call waits before it
    /// tries again.
    pub async fn next(&mut self) -> Result<StreamItem, Error> {
        loop {
            if let Some((item, id)) = self.pending.pop_front() {
                self.last = Some(id);
                match item {
                    Some(item) => return Ok(item),
                    None => continue,
                }
            }
            if let Some(wait) = self.retry_in.take() {
                tokio::time::sleep(wait).await;
            }
            let Some(res) = self.open.as_mut() else {
                return match self.connect().await {
                    Ok(Ok(())) => Ok(StreamItem::Connected { resumed_after: self.last.clone() }),
                    Ok(Err((reason, at_least))) => Ok(self.disconnected(reason, at_least)),
                    Err(e) => {
                        self.disconnected(String::new(), None);
                        Err(e)
                    }
                };
            };
            let chunk = match tokio::time::timeout(SILENCE, res.chunk()).await {
                Ok(Ok(Some(bytes))) => bytes,
                Ok(Ok(None)) => return Ok(self.disconnected("the stream ended".into(), None)),
                Ok(Err(e)) => return Ok(self.disconnected(format!("the stream ended: {e}"), None)),
                Err(_) => return Ok(self.disconnected(format!("nothing for {} s", SILENCE.as_secs()), None)),
            };
            // Something came: the server is well, so the next break waits the shortest time again.
            self.wait = Duration::from_secs(1);
            self.buf.extend_from_slice(&chunk);
            for frame in frames(&mut self.buf) {
                let Some(id) = frame.id else { continue };
                let item = frame.data.map(|raw| match serde_json::from_str::<Event>(&raw) {
                    Ok(event) => StreamItem::Event { event, raw },
                    Err(e) => StreamItem::Unreadable { id: id.clone(), raw, error: e.to_string() },
                });
                self.pending.push_back((item, id));
            }
        }
    }

    /// Opens the stream; the outer error is a refusal reconnecting cannot mend, the inner one a reason
    /// to try again (and the server's `Retry-After`).
    async fn connect(&mut self) -> Result<Result<(), (String, Option<Duration>)>, Error> {
        let mut req =
            self.http.get(format!("{}/v3/event/stream", self.client.base)).header("authorization", &self.client.auth);
        if let Some(id) = &self.last {
            req = req.header("last-event-id", id);
        }
        let res = match tokio::time::timeout(SILENCE, req.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Ok(Err((format!("cannot reach the server: {e}"), None))),
            Err(_) => return Ok(Err((format!("no answer from the server in {} s", SILENCE.as_secs()), None))),
        };
        let status = res.status().as_u16();
        if res.status().is_success() {
            self.buf.clear();
            self.open = Some(res);
            return Ok(Ok(()));
        }
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = tokio::time::timeout(Duration::from_secs(10), res.json::<serde_json::Value>()).await;
        let body = body.ok().and_then(Result::ok).unwrap_or_default();
        let refusal = Error::from_envelope(status, &body);
        if status == 400 || status == 401 {
            return Err(refusal);
        }
        Ok(Err((format!("the server answered {refusal}"), retry_after)))
    }

    /// Closes the connection; the next try waits (doubling from 1 s to 10 s, or the server's
    /// `Retry-After` if longer).
    fn disconnected(&mut self, reason: String, at_least: Option<Duration>) -> StreamItem {
        self.open = None;
        let retry_in = self.wait.max(at_least.unwrap_or_default());
        self.wait = (self.wait * 2).min(Duration::from_secs(10));
        self.retry_in = Some(retry_in);
        StreamItem::Disconnected { reason, retry_in }
    }
}

/// One server-sent frame.
#[derive(Debug)]
struct Frame {
    id: Option<String>,
    data: Option<String>,
}

/// Takes the complete frames off the front of `buf` (bytes: a character may be split across reads).
/// Lines end in LF or CRLF; a field's value loses one leading space; `data` lines are joined with LF.
fn frames(buf: &mut Vec<u8>) -> Vec<Frame> {
    buf.retain(|b| *b != b'\r');
    let mut out = Vec::new();
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let frame: Vec<u8> = buf.drain(..end + 2).collect();
        let frame = String::from_utf8_lossy(&frame);
        let (mut id, mut data) = (None, Vec::new());
        for line in frame.lines() {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "id" => id = Some(value.to_string()),
                "data" => data.push(value.to_string()),
                _ => {}
            }
        }
        out.push(Frame { id, data: (!data.is_empty()).then(|| data.join("\n")) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_whole() {
        let mut buf = b":heartbeat\n\nid: pos_1_2_3_\n: start\n\nid: evt_1\r\nevent: payin.created\r\ndata: {\"a\":\r\ndata:1}\r\n\r\nid: evt_2\nev".to_vec();
        let got = frames(&mut buf);
        assert_eq!(got.len(), 3);
        assert!(got[0].id.is_none() && got[0].data.is_none(), "a comment");
        assert_eq!((got[1].id.as_deref(), got[1].data.as_deref()), (Some("pos_1_2_3_"), None), "a position");
        assert_eq!(got[2].id.as_deref(), Some("evt_1"));
        assert_eq!(got[2].data.as_deref(), Some("{\"a\":\n1}"), "data lines joined, CRLF read as LF");
        assert_eq!(buf, b"id: evt_2\nev");
        // A character split across two reads is whole once the frame is.
        let mut split = "id: evt_3\nevent: x\ndata: Andr\u{e9}".as_bytes().to_vec();
        let tail = split.split_off(split.len() - 1);
        assert!(frames(&mut split).is_empty());
        split.extend_from_slice(&tail);
        split.extend_from_slice(b"\n\n");
        assert_eq!(frames(&mut split)[0].data.as_deref(), Some("Andr\u{e9}"));
    }

    /// A server that sends `body` once, then closes; every request's `Last-Event-ID` is noted.
    async fn once(body: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let noted = seen.clone();
        let app = axum::Router::new().route(
            "/v3/event/stream",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let noted = noted.clone();
                async move {
                    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    noted.lock().unwrap().push(last.to_string());
                    ([("content-type", "text/event-stream")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, seen)
    }

    const EVENT: &str = r#"{"id":"evt_X","type":"payin.created","created_at":"2026-12-06T00:00:00Z","data":{}}"#;

    #[tokio::test]
    async fn the_position_is_the_last_event_given_and_an_unreadable_one_is_passed_over() {
        let body = Box::leak(
            format!(
                "id: pos_1_0_0_\n\nid: evt_1\ndata: {}\n\nid: evt_2\ndata: not json\n\nid: evt_3\ndata: {}\n\n",
                EVENT.replace("evt_X", "evt_1"),
                EVENT.replace("evt_X", "evt_3")
            )
            .into_boxed_str(),
        );
        let (base, seen) = once(body).await;
        let kasir = Client::new(&base, "ak_test_x", "sk_test_y");
        let mut s = kasir.event_stream(None);
        assert_eq!(s.next().await.unwrap(), StreamItem::Connected { resumed_after: None });
        let first = s.next().await.unwrap();
        assert!(matches!(&first, StreamItem::Event { event, .. } if event.id == "evt_1"), "{first:?}");
        // All three came in one read; the position is the one given, not the last read.
        assert_eq!(s.position(), Some("evt_1"));
        let second = s.next().await.unwrap();
        assert!(
            matches!(&second, StreamItem::Unreadable { id, raw, .. } if id == "evt_2" && raw == "not json"),
            "{second:?}"
        );
        let third = s.next().await.unwrap();
        assert!(matches!(&third, StreamItem::Event { event, .. } if event.id == "evt_3"), "{third:?}");
        assert_eq!(s.position(), Some("evt_3"));
        // The server closes; the stream says so and resumes after the last event given.
        assert!(matches!(s.next().await.unwrap(), StreamItem::Disconnected { .. }));
        assert!(
            matches!(s.next().await.unwrap(), StreamItem::Connected { resumed_after: Some(ref l) } if l == "evt_3")
        );
        assert_eq!(*seen.lock().unwrap(), ["-", "evt_3"]);
    }
}
