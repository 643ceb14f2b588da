//! `kasir listen`: a Kasir server's events, as they commit, forwarded to a local URL and signed exactly
//! as a real delivery, so a merchant's engineer can work on their webhook handler at `localhost`. It reads
//! `GET /v3/event/stream`, prints one line per event, and when the server or the network goes away it
//! reconnects and resumes after the last event it saw (`Last-Event-ID`), so nothing is lost or doubled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::remote::{ApiKey, Connection};

#[derive(clap::Args, Debug)]
pub struct ListenArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Where each event is POSTed, signed as a real delivery.
    #[arg(long)]
    pub forward_to: String,
    /// Only these event types (comma-separated); all without it.
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// Allow a live key (real payments' events).
    #[arg(long)]
    pub live: bool,
}

/// Where `kasir` keeps what it must remember between runs: `$KASIR_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/kasir`, else `~/.config/kasir`.
fn config_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("KASIR_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(d).join("kasir"));
    }
    let home = std::env::var_os("HOME").ok_or("set HOME or KASIR_CONFIG_DIR: kasir listen keeps its secret there")?;
    Ok(PathBuf::from(home).join(".config").join("kasir"))
}

/// The secret `listen` signs with for this server and key: made on the first run, the same ever after.
fn listen_secret(dir: &Path, api_url: &str, access_key: &str) -> Result<String, String> {
    let file = dir.join("listen-secrets.json");
    let mut all: BTreeMap<String, String> = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let key = format!("{api_url} {access_key}");
    if let Some(s) = all.get(&key) {
        return Ok(s.clone());
    }
    let secret = kasir_domain::new_webhook_secret();
    all.insert(key, secret.clone());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    write_private(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(secret)
}

/// Writes a file only its owner can read, whole or not at all: a new file beside it, renamed over it.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

/// One server-sent frame: an event, or (no `data`) only a new position to resume from.
struct Sent {
    id: Option<String>,
    kind: String,
    data: Option<String>,
}

/// Takes the complete frames off the front of `buf` (bytes: a character may be split across reads).
/// Lines end in LF or CRLF; a field's value loses one leading space; `data` lines are joined with LF.
fn frames(buf: &mut Vec<u8>) -> Vec<Sent> {
    buf.retain(|b| *b != b'\r');
    let mut out = Vec::new();
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let frame: Vec<u8> = buf.drain(..end + 2).collect();
        let frame = String::from_utf8_lossy(&frame);
        let (mut id, mut kind, mut data) = (None, String::new(), Vec::new());
        for line in frame.lines() {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "id" => id = Some(value.to_string()),
                "event" => kind = value.to_string(),
                "data" => data.push(value.to_string()),
                _ => {}
            }
        }
        out.push(Sent { id, kind, data: (!data.is_empty()).then(|| data.join("\n")) });
    }
    out
}

/// How long a stream may be silent (Kasir sends a heartbeat every 15 s) before `listen` takes the
/// connection for dead and reconnects.
const SILENCE: Duration = Duration::from_secs(45);

/// Runs until interrupted.
pub fn listen(args: ListenArgs) -> Result<(), String> {
    let key = args.connection.key()?;
    if key.is_live() && !args.live {
        return Err("this is a live key: kasir listen forwards real payments' events only with --live".into());
    }
    let base = args.connection.base();
    let secret = listen_secret(&config_dir()?, &base, &key.access)?;
    url::Url::parse(&args.forward_to).map_err(|e| format!("--forward-to {}: {e}", args.forward_to))?;
    println!("Forwarding {base}'s events to {}", args.forward_to);
    println!("Signing secret for this server and key (the same on every run): {secret}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(run(args, key, base, secret))
}

async fn run(args: ListenArgs, key: ApiKey, base: String, secret: String) -> Result<(), String> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let forward = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let mut last: Option<String> = None;
    let mut wait = Duration::from_secs(1);
    loop {
        let mut req = http.get(format!("{base}/v3/event/stream")).header("authorization", key.basic());
        if let Some(id) = &last {
            req = req.header("last-event-id", id);
        }
        let mut res = match req.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let (code, message) = (&body["errors"][0]["code"], body["message"].as_str().unwrap_or(""));
                if status == 401 || status == 400 {
                    return Err(format!("{base} answered {status}: {code} {message}"));
                }
                println!("{base} answered {status} ({code} {message}); trying again in {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(e) => {
                println!("cannot reach {base} ({e}); trying again in {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        wait = Duration::from_secs(1);
        let resumed = match &last {
            Some(l) if l.starts_with("evt_") => format!(" (resumed after {l})"),
            Some(_) => " (resumed from where it started)".to_string(),
            None => String::new(),
        };
        println!("Ready: listening{resumed}");
        let mut buf = Vec::new();
        loop {
            match tokio::time::timeout(SILENCE, res.chunk()).await {
                Ok(Ok(Some(bytes))) => buf.extend_from_slice(&bytes),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    println!("the stream from {base} ended; reconnecting");
                    break;
                }
                Err(_) => {
                    println!("nothing from {base} for {}s; reconnecting", SILENCE.as_secs());
                    break;
                }
            }
            for f in frames(&mut buf) {
                if let (Some(id), Some(data)) = (&f.id, &f.data) {
                    if args.events.is_empty() || args.events.contains(&f.kind) {
                        let e = Event { id: id.clone(), data: data.clone() };
                        let answer = deliver(&forward, &args.forward_to, &secret, &e).await;
                        println!("{}  {:<32} {}  {answer}", clock(), f.kind, id);
                    }
                }
                if let Some(id) = f.id {
                    last = Some(id);
                }
            }
        }
    }
}

/// An event to forward.
struct Event {
    id: String,
    data: String,
}

/// POSTs an event as a real delivery would; says what came back.
async fn deliver(http: &reqwest::Client, url: &str, secret: &str, e: &Event) -> String {
    let created_at = serde_json::from_str::<serde_json::Value>(&e.data)
        .ok()
        .and_then(|v| v["created_at"].as_str().map(str::to_string))
        .unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let headers = kasir_webhooks::sign::headers(&[secret.to_string()], &e.id, &created_at, &e.data, now as i64);
    let mut req = http.post(url).header("content-type", "application/json").body(e.data.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(r) => format!("[{}] POST {url}", r.status().as_u16()),
        Err(e) => format!("[failed] POST {url}: {e}"),
    }
}

/// The time now, `HH:MM:SS` in UTC.
fn clock() -> String {
    let t = kasir_domain::Clock::now(&kasir_domain::SystemClock).civil(0);
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_per_server_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = listen_secret(dir.path(), "http://127.0.0.1:8080", "ak_test_A").unwrap();
        assert!(a.starts_with("whsec_"));
        assert_eq!(listen_secret(dir.path(), "http://127.0.0.1:8080", "ak_test_A").unwrap(), a);
        assert_ne!(listen_secret(dir.path(), "http://127.0.0.1:9090", "ak_test_A").unwrap(), a);
        assert!(ApiKey::parse("ak_test_x:sk_test_y", "k").is_ok());
        assert!(ApiKey::parse("sk_test_y", "k").is_err());
    }

    #[test]
    fn frames_are_taken_whole() {
        let mut buf = b":heartbeat\n\nid: pos_1_2_3_\n: start\n\nid: evt_1\r\nevent: payin.created\r\ndata: {\"a\":\r\ndata:1}\r\n\r\nid: evt_2\nev".to_vec();
        let got = frames(&mut buf);
        assert_eq!(got.len(), 3);
        assert!(got[0].id.is_none() && got[0].data.is_none(), "a comment");
        assert_eq!((got[1].id.as_deref(), got[1].data.as_deref()), (Some("pos_1_2_3_"), None), "a position");
        assert_eq!(got[2].id.as_deref(), Some("evt_1"));
        assert_eq!(got[2].kind, "payin.created");
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
