//! Live OVO at scale: Kasir connected to the OVO simulator (`kasir ovo-sim`, its own process), with
//! thousands of push calls held open at once, as at 100 confirms a second with OVO's 70-second calls.
//! Measures Kasir's memory while they are held, `GET /v3/payin/{id}` latency with and without them, and
//! that every push ends with exactly one outcome on both sides.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kasir_app::keys::KeyPair;
use kasir_domain::Mode;

use crate::client::{self, closed_loop, Conn, Request};
use crate::procs::{self, Server};
use crate::verdict;

const APP_ID: &str = "kasir-bench";
const APP_KEY: &str = "a4f6bf89b2a85781b7c1cab997b7ee0c89be03f7ac6ef29b63a45d07253cc401";

fn basic(pair: &KeyPair) -> String {
    use base64::Engine as _;
    let raw = format!("{}:{}", pair.access_key, pair.secret_key);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The simulator's ledger: how many pushes it has, how many are waiting, and how many are charged.
async fn ledger(sim: &str) -> Result<(usize, usize, usize), String> {
    let a = Conn::new(sim).send(&Request::new("GET", "/ledger", &[], b"")).await.map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| format!("ledger: {e}"))?;
    let all = v.as_array().cloned().unwrap_or_default();
    let count = |s: &str| all.iter().filter(|e| e["standing"] == s).count();
    Ok((all.len(), count("waiting"), count("charged")))
}

/// Starts `kasir ovo-sim` on a free port, holding unanswered pushes up to 120 s.
fn start_sim(kasir: &Path, key_file: &Path) -> Result<Server, String> {
    let addr = format!("127.0.0.1:{}", procs::free_port());
    let child = Command::new(kasir)
        .args(["ovo-sim", "--listen", &addr, "--app-id", APP_ID, "--timeout", "120s", "--app-key-file"])
        .arg(key_file)
        .env("KASIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if !procs::wait_for_port(&addr, 10) {
        return Err("the OVO simulator did not start".into());
    }
    Ok(Server { name: "ovo-sim".into(), addr, child })
}

/// Holds `n` pushes open at once (each approved `hold` seconds after it reaches the simulator).
pub async fn held_pushes(
    kasir: &Path,
    work: &Path,
    n: usize,
    hold: u64,
    concurrency: usize,
    seconds: Duration,
) -> Result<(), String> {
    let key_file = work.join("ovo-app-key");
    std::fs::write(&key_file, APP_KEY).map_err(|e| e.to_string())?;
    let sim = start_sim(kasir, &key_file)?;
    let url = format!("sqlite://{}", work.join("ovo.db").display());
    let live = KeyPair::generate(Mode::Live);
    let out = procs::kasir_cmd(
        kasir,
        &url,
        &["keys", "add", "--access-key", &live.access_key, "--secret-key", &live.secret_key],
    )?;
    if !out.status.success() {
        return Err(format!("kasir keys add: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let sim_url = format!("http://{}/pos", sim.addr);
    let key_path = key_file.display().to_string();
    let args = [
        "--ovo-url",
        &sim_url,
        "--ovo-app-id",
        APP_ID,
        "--ovo-app-key-file",
        &key_path,
        "--ovo-tid",
        "T1",
        "--ovo-mid",
        "M1",
        "--ovo-merchant-id",
        "110",
        "--ovo-store-code",
        "S1",
        "--ovo-timeout",
        "90s",
        "--approval-window",
        "5m",
    ];
    let server = procs::start_kasir(kasir, "kasir-ovo", &url, &args)?;
    let auth = basic(&live);
    let headers = [("authorization", auth.clone()), ("content-type", "application/json".to_string())];

    // The payin every GET reads: made, not confirmed.
    let body = serde_json::json!({"invoice_currency": "IDR", "amount": 5000000, "transaction_description": "1 X Good"});
    let mut conn = Conn::new(&server.addr);
    let made = conn.send(&Request::new("POST", "/v3/payin", &headers, body.to_string().as_bytes())).await;
    let made = made.map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&made.body).map_err(|e| e.to_string())?;
    let id = v["data"]["id"].as_str().ok_or_else(|| format!("no payin: {v}"))?.to_string();
    let get_req = Request::new("GET", &format!("/v3/payin/{id}"), &[("authorization", auth.clone())], b"");
    let r = get_req.clone();
    let idle = closed_loop(&server.addr, concurrency, seconds, 0, move |_, _| r.clone()).await;

    // N confirms, each a push the simulator holds for `hold` seconds.
    let number = format!("811000010{hold:02}");
    let confirm = serde_json::json!({
        "invoice_currency": "IDR", "amount": 5000000, "transaction_description": "1 X Good", "confirm": true,
        "customer_details": {"name": "Andrea Lark", "email": "andrea@example.com", "country": "ID"},
        "payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": number}}}
    });
    let req = Request::new("POST", "/v3/payin", &headers, confirm.to_string().as_bytes());
    let started = Instant::now();
    let confirmed = client::closed_loop_count(&server.addr, 32, n, move |_| req.clone()).await;
    let confirm_secs = started.elapsed().as_secs_f64();
    // All of them open at the simulator at once.
    let deadline = Instant::now() + Duration::from_secs(hold.saturating_sub(2).max(3));
    let mut held = 0;
    while Instant::now() < deadline {
        let (_, waiting, _) = ledger(&sim.addr).await?;
        held = held.max(waiting);
        if waiting >= confirmed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held_at = started.elapsed().as_secs_f64();
    // The confirms' own work (their events, the claims) is done a moment after the last push is open.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = get_req.clone();
    let loaded = closed_loop(&server.addr, concurrency, seconds, 0, move |_, _| r.clone()).await;
    let (_, still_waiting, _) = ledger(&sim.addr).await?;
    let rss_held = server.rss_mib();

    // Every push ends: charged at the simulator, succeeded in Kasir, once each.
    let deadline = Instant::now() + Duration::from_secs(hold + 60);
    let (mut total, mut charged) = (0, 0);
    let mut succeeded = 0;
    while Instant::now() < deadline {
        (total, _, charged) = ledger(&sim.addr).await?;
        succeeded = count_succeeded(&server.addr, &auth).await?;
        if charged >= confirmed && succeeded >= confirmed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_secs = started.elapsed().as_secs_f64();
    let peak = server.peak_rss_mib();
    println!(
        "\nOVO (Kasir on SQLite, the simulator its own process, each push approved {hold} s after it arrives):\n  \
         {confirmed} of {n} live confirms in {confirm_secs:.1} s; {held} pushes open at the simulator at once \
         ({held_at:.1} s in; {still_waiting} still open after the loaded GETs); RSS while held {rss_held:.1} MiB, peak {peak:.1} MiB\n  \
         GET payin (c={concurrency}) p99: idle {:.2} ms, with the pushes open {:.2} ms ({:.2}×); {:.0} and {:.0} req/s\n  \
         settled: {succeeded} succeeded in Kasir, {charged} charged of {total} pushes at the simulator, {all_secs:.1} s after the first confirm",
        idle.ms(0.99),
        loaded.ms(0.99),
        loaded.ms(0.99) / idle.ms(0.99),
        idle.rate(),
        loaded.rate(),
    );
    if confirmed != n || total != n || charged != n || succeeded != n {
        return Err(format!(
            "OVO: every push must end once: {n} asked, {confirmed} confirmed, {total} pushed, {charged} charged, {succeeded} succeeded"
        ));
    }
    if n >= 10_000 {
        verdict(&format!("{n} pushes open at once: peak RSS"), peak, 256.0, false, " MiB");
        verdict("GET payin p99 with them open ÷ idle", loaded.ms(0.99) / idle.ms(0.99), 2.0, false, "×");
    }
    server.stop();
    drop(sim);
    Ok(())
}

/// How many live payins have succeeded, by paging through the list.
async fn count_succeeded(addr: &str, auth: &str) -> Result<usize, String> {
    let mut conn = Conn::new(addr);
    let (mut count, mut after) = (0, String::new());
    loop {
        let q = if after.is_empty() { String::new() } else { format!("&starting_after={after}") };
        let path = format!("/v3/payin?status=succeeded&limit=100{q}");
        let a = conn.send(&Request::new("GET", &path, &[("authorization", auth.to_string())], b"")).await;
        let a = a.map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
        let data = v["data"]["data"].as_array().cloned().unwrap_or_default();
        count += data.len();
        match (v["data"]["has_more"].as_bool(), data.last()) {
            (Some(true), Some(last)) => after = last["id"].as_str().unwrap_or_default().to_string(),
            _ => return Ok(count),
        }
    }
}
