//! The servers a run measures, each its own process: Kasir, the bare-axum ceiling, localstripe.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub const SEED_ACCESS_KEY: &str = "ak_test_YLSUAE0V4BHJH8X486OC";
pub const SEED_SECRET_KEY: &str = "sk_test_HM8C7HERWPf85OfqB1xKMBI1iD6uVa12QcvTNYyRaHxQf5S9oieKh9Vsz87rxmHJZJW2LwUsCRcdVmDtwE8CEducHQtg5T3V9u6ImAinvGb28VyxSUYlM1LYiemO4Lqm";
pub const SEED_AUTHORIZATION: &str = "Basic YWtfdGVzdF9ZTFNVQUUwVjRCSEpIOFg0ODZPQzpza190ZXN0X0hNOEM3SEVSV1BmODVPZnFCMXhLTUJJMWlENnVWYTEyUWN2VE5ZeVJhSHhRZjVTOW9pZUtoOVZzejg3cnhtSEpaSlcyTHdVc0NSY2RWbUR0d0U4Q0VkdWNIUXRnNVQzVjl1NkltQWludkdiMjhWeXhTVVlsTTFMWWllbU80THFt";

/// A server process; killed when dropped.
pub struct Server {
    pub name: String,
    pub addr: String,
    pub child: Child,
}

impl Server {
    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.child.id(), "VmHWM:") as f64 / 1024.0
    }

    /// Resident memory now (VmRSS), in MiB.
    pub fn rss_mib(&self) -> f64 {
        proc_status_kib(self.child.id(), "VmRSS:") as f64 / 1024.0
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn wait_for_port(addr: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The `kasir` binary beside this one.
pub fn kasir_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("kasir"),
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} not found: build it first (cargo build --release -p kasir -p kasir-bench)", path.display()))
    }
}

pub fn kasir_cmd(bin: &Path, database: &str, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(bin).args(args).arg("--database").arg(database).output().map_err(|e| e.to_string())
}

/// Runs a `kasir` command on `database` with `input` on its standard input.
pub fn kasir_cmd_input(bin: &Path, database: &str, args: &[&str], input: &str) -> Result<std::process::Output, String> {
    use std::io::Write as _;
    let mut child = Command::new(bin)
        .args(args)
        .arg("--database")
        .arg(database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().expect("piped").write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Starts `kasir serve` on `database` with the seed's keys registered.
pub fn start_kasir(bin: &Path, name: &str, database: &str, extra: &[&str]) -> Result<Server, String> {
    let out =
        kasir_cmd(bin, database, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY])?;
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !text.contains("already registered") {
        return Err(format!("kasir keys add: {text}"));
    }
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(extra)
        .env("KASIR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    // The line that says where it listens (a warning may come first, e.g. an http:// --ovo-url).
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line.contains("listening on http://") {
            break;
        }
    }
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .ok_or_else(|| format!("kasir did not start: {line}"))?
        .to_string();
    std::thread::spawn(move || for _ in err.lines() {});
    Ok(Server { name: name.into(), addr, child })
}

/// Starts this binary's bare-axum ceiling server.
pub fn start_ceiling() -> Result<Server, String> {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["ceiling", "--listen", &addr])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if !wait_for_port(&addr, 10) {
        return Err("the ceiling server did not start".into());
    }
    Ok(Server { name: "ceiling".into(), addr, child })
}

/// Installs localstripe into a throwaway virtualenv (kept under `dir` between runs) and starts it.
pub fn start_localstripe(dir: &Path) -> Result<Server, String> {
    let venv = dir.join("localstripe-venv");
    let bin = venv.join("bin").join("localstripe");
    if !bin.exists() {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
            && Command::new(venv.join("bin").join("python"))
                .args(["-m", "pip", "install", "--quiet", "localstripe==1.15.10"])
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            return Err("python3 -m venv / pip install localstripe failed (is Python 3 installed?)".into());
        }
    }
    let port = free_port();
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--from-scratch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{port}");
    if !wait_for_port(&addr, 30) {
        return Err("localstripe did not start".into());
    }
    Ok(Server { name: "localstripe".into(), addr, child })
}

/// A fixed payin, about 1.5 KB, as the ceiling answers.
pub const FIXED_PAYIN: &str = r#"{"status":"success","message":"","data":{"amount":5000000,"amount_paid":0,"billing_details":null,"cancel_url":"","cancelled_at":null,"client_token":"zWJsECjWXQNPD-bZ64pV3LGIPjdpgOnsdrwLHEP4wX8=","confirm":true,"created_at":"2024-01-29T13:05:54.270403Z","customer":"cus_cmrq5c6oui3lmrvb8tpg","customer_details":{"country":"ID","email":"andrea@example.com","name":"Andrea Lark","phone":null},"id":"pay_cmrq5c74r2tr8tu3s2gg","invoice_currency":"IDR","latest_payment_attempt":"pat_cmrq5cf4r2tr8tu3s2o0","latest_payment_attempt_data":{"expires_at":"2024-01-29T13:10:54.270403Z"},"metadata":null,"object":"payin","paid_in_excess":false,"partially_paid":false,"payment_attempts":[],"payment_method_details":{"ovo_idr":{"phone":{"calling_code":"62","number":"81234567890"}},"type":"ovo_idr"},"reference_id":"order-2024-000123","shipping_details":null,"statement_descriptor":"","status":"requires_action","status_description":"","success_url":"https://shop.example/thanks","transaction_data":[],"transaction_description":"1 X Good from the shop, order 2024-000123","transaction_documents":[],"webhook_url":"https://shop.example/webhooks/kasir/payins/notifications"}}"#;

/// The ceiling: a bare axum handler returning a fixed payin, no storage, no auth.
pub async fn run_ceiling(listen: &str) {
    use axum::routing::get;
    let answer = || async { ([(axum::http::header::CONTENT_TYPE, "application/json")], FIXED_PAYIN) };
    let app = axum::Router::new().route("/v3/payin", axum::routing::post(answer)).route("/v3/payin/{id}", get(answer));
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind ceiling");
    axum::serve(listener, app).await.expect("ceiling");
}

/// What the receiver saw: (event type, object id, object's created_at, arrival).
pub type Hits = Arc<Mutex<Vec<(String, String, String, SystemTime)>>>;

/// A webhook receiver: the time each event type arrived, by payin id.
#[derive(Clone, Default)]
pub struct Receiver {
    pub hits: Hits,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let hits: Hits = Arc::default();
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/webhook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let h = h.clone();
                async move {
                    let at = SystemTime::now();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        let kind = v["type"].as_str().unwrap_or("").to_string();
                        let id = v["data"]["id"].as_str().unwrap_or("").to_string();
                        let created = v["data"]["created_at"].as_str().unwrap_or("").to_string();
                        h.lock().expect("hits").push((kind, id, created, at));
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { hits, url }
    }

    pub fn count(&self, kind: &str) -> usize {
        self.hits.lock().expect("hits").iter().filter(|h| h.0 == kind).count()
    }

    /// Arrival instants and payin creation times of events of `kind`.
    pub fn of(&self, kind: &str) -> Vec<(String, SystemTime)> {
        self.hits.lock().expect("hits").iter().filter(|h| h.0 == kind).map(|h| (h.2.clone(), h.3)).collect()
    }
}
