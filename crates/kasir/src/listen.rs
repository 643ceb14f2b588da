//! `kasir listen`: a Kasir server's events, as they commit, forwarded to a local URL and signed exactly
//! as a real delivery, so a merchant's engineer can work on their webhook handler at `localhost`. It reads
//! `GET /v3/event/stream`, prints one line per event, and when the server or the network goes away it
//! reconnects and resumes after the last event it saw (`Last-Event-ID`), so nothing is lost or doubled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kasir_client::stream::StreamItem;

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
    let forward = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let mut stream = key.client(&base).event_stream(None);
    loop {
        match stream.next().await.map_err(|e| format!("{base} answered {e}"))? {
            StreamItem::Connected { resumed_after } => {
                let resumed = match resumed_after {
                    Some(l) if l.starts_with("evt_") => format!(" (resumed after {l})"),
                    Some(_) => " (resumed from where it started)".to_string(),
                    None => String::new(),
                };
                println!("Ready: listening{resumed}");
            }
            StreamItem::Event { event, raw } => {
                if args.events.is_empty() || args.events.contains(&event.kind) {
                    let answer = deliver(&forward, &args.forward_to, &secret, &event.id, &event.created_at, &raw).await;
                    println!("{}  {:<32} {}  {answer}", clock(), event.kind, event.id);
                }
            }
            StreamItem::Unreadable { id, raw, error } => {
                // Forwarded as it came: the handler being written may read what this build cannot.
                let created_at = serde_json::from_str::<serde_json::Value>(&raw)
                    .ok()
                    .and_then(|v| v["created_at"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let answer = deliver(&forward, &args.forward_to, &secret, &id, &created_at, &raw).await;
                println!("{}  {:<32} {id}  {answer} (not read here: {error})", clock(), "?");
            }
            StreamItem::Disconnected { reason, retry_in } => {
                println!("{reason}; reconnecting to {base} in {} s", retry_in.as_secs());
            }
        }
    }
}

/// POSTs an event as a real delivery would; says what came back.
async fn deliver(http: &reqwest::Client, url: &str, secret: &str, id: &str, created_at: &str, body: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let headers = kasir_webhooks::sign::headers(&[secret.to_string()], id, created_at, body, now as i64);
    let mut req = http.post(url).header("content-type", "application/json").body(body.to_string());
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
}
