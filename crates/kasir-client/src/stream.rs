//! `GET /v3/event/stream`: the account's events as they commit, read as server-sent events. An
//! [`EventStream`] reconnects by itself when the server or the network goes away and resumes after the
//! last event it gave (`Last-Event-ID`), so across a reconnect no event is skipped or given twice.

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
    /// The last id the server sent: an event's, or the position a connection started at.
    last: Option<String>,
    open: Option<reqwest::Response>,
    buf: Vec<u8>,
    wait: Duration,
    pending: std::collections::VecDeque<StreamItem>,
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
            pending: Default::default(),
            retry_in: None,
        }
    }
}

impl EventStream {
    /// Where a new stream would take up from: the last id the server sent.
    pub fn position(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// The next thing that happens. An error only for what reconnecting cannot mend: a key the
    /// server refuses (401) or a position it does not know (400).
    pub async fn next(&mut self) -> Result<StreamItem, Error> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(item);
            }
            if let Some(wait) = self.retry_in.take() {
                tokio::time::sleep(wait).await;
            }
            let Some(res) = self.open.as_mut() else {
                match self.connect().await? {
                    Ok(()) => {
                        self.wait = Duration::from_secs(1);
                        return Ok(StreamItem::Connected { resumed_after: self.last.clone() });
                    }
                    Err(reason) => return Ok(self.disconnected(reason)),
                }
            };
            let chunk = match tokio::time::timeout(SILENCE, res.chunk()).await {
                Ok(Ok(Some(bytes))) => bytes,
                Ok(Ok(None)) => return Ok(self.disconnected("the stream ended".into())),
                Ok(Err(e)) => return Ok(self.disconnected(format!("the stream broke: {e}"))),
                Err(_) => return Ok(self.disconnected(format!("nothing for {} s", SILENCE.as_secs()))),
            };
            self.buf.extend_from_slice(&chunk);
            for frame in frames(&mut self.buf) {
                if let (Some(id), Some(raw)) = (&frame.id, frame.data) {
                    let event: Event = serde_json::from_str(&raw).map_err(|e| Error::Decode(format!("{id}: {e}")))?;
                    self.pending.push_back(StreamItem::Event { event, raw });
                }
                if let Some(id) = frame.id {
                    self.last = Some(id);
                }
            }
        }
    }

    /// Opens the stream; the outer error is a refusal reconnecting cannot mend, the inner one a reason
    /// to try again.
    async fn connect(&mut self) -> Result<Result<(), String>, Error> {
        let mut req =
            self.http.get(format!("{}/v3/event/stream", self.client.base)).header("authorization", &self.client.auth);
        if let Some(id) = &self.last {
            req = req.header("last-event-id", id);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("cannot reach the server: {e}"))),
        };
        let status = res.status().as_u16();
        if res.status().is_success() {
            self.buf.clear();
            self.open = Some(res);
            return Ok(Ok(()));
        }
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        let e = &body["errors"][0];
        let (code, message) = (e["code"].as_u64().unwrap_or(0) as u32, body["message"].as_str().unwrap_or(""));
        if status == 400 || status == 401 {
            return Err(Error::Api {
                status,
                code,
                message: message.to_string(),
                remarks: e["remarks"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(Err(format!("the server answered {status} ({code} {message})")))
    }

    fn disconnected(&mut self, reason: String) -> StreamItem {
        self.open = None;
        let retry_in = self.wait;
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
}
