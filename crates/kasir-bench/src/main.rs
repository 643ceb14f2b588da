//! `kasir-bench`: measures Kasir, the bare-axum ceiling and localstripe in one run, with the same
//! scenarios, and prints throughput, latency percentiles, peak memory and the ratios between them.
//! See `docs/benchmarks.md`.

mod client;
mod fill;
mod ovo;
mod procs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use client::{closed_loop, open_loop, Conn, Request, Stats};
use procs::{Receiver, Server, SEED_AUTHORIZATION};

#[derive(Parser)]
#[command(name = "kasir-bench", about = "Kasir against the bare-axum ceiling and localstripe, in one run")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Seconds, not minutes: every scenario briefly, tiny counts. Checks the tool, asserts no speed.
    #[arg(long)]
    smoke: bool,
    /// The kasir binary (default: beside this one).
    #[arg(long)]
    kasir: Option<PathBuf>,
    /// A PostgreSQL server (a role that may create databases) to measure Kasir on PostgreSQL too.
    #[arg(long, env = "KASIR_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Seconds per measured scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections for the fixed-concurrency scenarios.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Offered rate for the fixed-arrival-rate scenario.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Attempts made due at the same moment in the burst lifecycle scenario.
    #[arg(long, default_value_t = 100_000)]
    burst: usize,
    /// Confirms per second in the steady lifecycle scenario.
    #[arg(long, default_value_t = 1000.0)]
    steady_rate: f64,
    /// Payins in the database for the idle-memory measurement.
    #[arg(long, default_value_t = 1_000_000)]
    idle_payins: usize,
    /// Skip localstripe (it needs Python 3 and PyPI).
    #[arg(long)]
    no_localstripe: bool,
    /// Run only these parts, comma-separated: `load` (the servers' scenarios and ratios), `steady`,
    /// `burst`, `memory`, `ovo` (live OVO pushes held open against the simulator). Default: all.
    #[arg(long, value_delimiter = ',', value_parser = ["load", "steady", "burst", "memory", "ovo"])]
    only: Vec<String>,
    /// Live OVO pushes held open at once in the `ovo` part.
    #[arg(long, default_value_t = 10_000)]
    ovo_pushes: usize,
    /// Where databases and the localstripe virtualenv go.
    #[arg(long, default_value = "target/bench")]
    workdir: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// (internal) Serve the bare-axum ceiling.
    #[command(hide = true)]
    Ceiling {
        #[arg(long)]
        listen: String,
    },
}

/// How each target spells the scenarios.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Kasir,
    Ceiling,
    Localstripe,
}

fn kasir_body(webhook: Option<&str>) -> Vec<u8> {
    let mut v = serde_json::json!({
        "invoice_currency": "IDR", "amount": 5000000, "transaction_description": "1 X Good",
        "confirm": true,
        "customer_details": {"name": "Andrea Lark", "email": "andrea@example.com", "country": "ID"},
        "payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": "81234567890"}}}
    });
    if let Some(w) = webhook {
        v["webhook_url"] = serde_json::json!(w);
    }
    v.to_string().into_bytes()
}

fn create_request(kind: Kind, webhook: Option<&str>) -> Request {
    match kind {
        Kind::Kasir | Kind::Ceiling => Request::new(
            "POST",
            "/v3/payin",
            &[("authorization", SEED_AUTHORIZATION.into()), ("content-type", "application/json".into())],
            &kasir_body(webhook),
        ),
        Kind::Localstripe => Request::new(
            "POST",
            "/v1/payment_intents",
            &[
                ("authorization", "Bearer sk_test_bench".into()),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            b"amount=5000000&currency=idr&payment_method=pm_card_visa&confirm=true",
        ),
    }
}

fn get_request(kind: Kind, id: &str) -> Request {
    match kind {
        Kind::Kasir | Kind::Ceiling => {
            Request::new("GET", &format!("/v3/payin/{id}"), &[("authorization", SEED_AUTHORIZATION.into())], b"")
        }
        Kind::Localstripe => Request::new(
            "GET",
            &format!("/v1/payment_intents/{id}"),
            &[("authorization", "Bearer sk_test_bench".into())],
            b"",
        ),
    }
}

/// Makes `n` checkouts on a Kasir at `addr` and returns their page tokens, for the hosted-page scenario.
async fn checkout_tokens(addr: &str, n: usize) -> Vec<String> {
    let body = serde_json::json!({
        "invoice_currency": "IDR", "amount": 15000000, "transaction_description": "2 x Kopi Susu",
        "customer_details": {"name": "Andrea Lark", "email": "andrea@example.com", "country": "ID"},
        "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart",
        "items": [{"name": "Kopi Susu Gula Aren", "quantity": 2, "amount": 5000000}]
    });
    let headers = [("authorization", SEED_AUTHORIZATION.into()), ("content-type", "application/json".into())];
    let req = Request::new("POST", "/v3/checkout", &headers, body.to_string().as_bytes());
    let mut conn = Conn::new(addr);
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(a) = conn.send(&req).await else { continue };
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
        if let Some(t) = v["data"]["token"].as_str() {
            tokens.push(t.to_string());
        }
    }
    tokens
}

/// A support person's session on the dashboard: a user made with the CLI, signed in through the form.
/// `None` from a Kasir without the dashboard (an A/B against an older build).
async fn dashboard_session(kasir: &std::path::Path, database: &str, addr: &str) -> Option<String> {
    const EMAIL: &str = "bench@kasir.local";
    const PASSWORD: &str = "bench password 1234";
    let made = procs::kasir_cmd_input(
        kasir,
        database,
        &["users", "create", "--email", EMAIL, "--role", "support", "--password-stdin"],
        PASSWORD,
    )
    .ok()?;
    let text = String::from_utf8_lossy(&made.stderr);
    if !made.status.success() && !text.contains("already has") {
        return None;
    }
    let mut conn = Conn::new(addr);
    let form = conn.send(&Request::new("GET", "/dashboard/login", &[], b"")).await.ok()?;
    let csrf_cookie = form.cookies.iter().find(|c| c.starts_with("kasir_csrf="))?.clone();
    let csrf = csrf_cookie.strip_prefix("kasir_csrf=")?.to_string();
    let body = format!("email={}&password={}&csrf={csrf}", EMAIL.replace('@', "%40"), PASSWORD.replace(' ', "+"));
    let headers = [("cookie", csrf_cookie), ("content-type", "application/x-www-form-urlencoded".into())];
    let signed = conn.send(&Request::new("POST", "/dashboard/login", &headers, body.as_bytes())).await.ok()?;
    signed.cookies.into_iter().find(|c| c.starts_with("kasir_session="))
}

/// A customer's browser opening a checkout's hosted page (no key: the token is the credential).
fn page_request(token: &str) -> Request {
    Request::new("GET", &format!("/checkout/{token}"), &[("accept-language", "id-ID,id;q=0.9".into())], b"")
}

fn ids_of(kind: Kind, samples: &[Vec<u8>]) -> Vec<String> {
    samples
        .iter()
        .filter_map(|b| {
            let v: serde_json::Value = serde_json::from_slice(b).ok()?;
            let id = if kind == Kind::Localstripe { &v["id"] } else { &v["data"]["id"] };
            id.as_str().map(str::to_string)
        })
        .collect()
}

struct Row {
    scenario: String,
    target: String,
    stats: Stats,
    rss: f64,
}

impl Row {
    /// A scenario's row for `server`, with its peak memory so far.
    fn of(scenario: String, server: &Server, stats: Stats) -> Row {
        Row { scenario, target: server.name.clone(), stats, rss: server.peak_rss_mib() }
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n{:<34} {:<16} {:>9} {:>8} {:>8} {:>9} {:>7} {:>9}",
        "scenario", "target", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "failed", "peak MiB"
    );
    for r in rows {
        println!(
            "{:<34} {:<16} {:>9.0} {:>8.2} {:>8.2} {:>9.2} {:>7} {:>9.1}",
            r.scenario,
            r.target,
            r.stats.rate(),
            r.stats.ms(0.5),
            r.stats.ms(0.99),
            r.stats.ms(0.999),
            r.stats.failed,
            r.rss
        );
    }
}

fn find<'a>(rows: &'a [Row], scenario: &str, target: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.scenario.starts_with(scenario) && r.target == target)
}

fn verdict(name: &str, value: f64, target: f64, higher_is_better: bool, unit: &str) {
    let ok = if higher_is_better { value >= target } else { value <= target };
    let cmp = if higher_is_better { "≥" } else { "≤" };
    println!("  {name:<58} {value:>10.2}{unit} (target {cmp} {target}{unit}) {}", if ok { "met" } else { "NOT MET" });
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn parse_ts(s: &str) -> Option<SystemTime> {
    let t = kasir_domain::Timestamp::parse_rfc3339(s)?;
    Some(UNIX_EPOCH + Duration::from_micros(t.as_micros() as u64))
}

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Some(Cmd::Ceiling { listen }) = &cli.command {
        rt.block_on(procs::run_ceiling(listen));
        return std::process::ExitCode::SUCCESS;
    }
    if cli.smoke {
        cli.seconds = 1;
        cli.rate = cli.rate.min(200.0);
        cli.burst = cli.burst.min(300);
        cli.steady_rate = cli.steady_rate.min(100.0);
        cli.idle_payins = cli.idle_payins.min(2000);
        cli.ovo_pushes = cli.ovo_pushes.min(200);
    }
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kasir-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A Kasir with workers for the lifecycle scenarios: outcomes 1 s after a confirm, 256 sends at once.
const LIFECYCLE_WORKERS: [&str; 4] = ["--sandbox-delay", "1s", "--webhook-concurrency", "256"];

async fn run(cli: Cli) -> Result<(), String> {
    let kasir = procs::kasir_binary(cli.kasir.as_deref())?;
    std::fs::create_dir_all(&cli.workdir).map_err(|e| e.to_string())?;
    let work = tempfile_dir(&cli.workdir)?;
    println!(
        "kasir-bench: {} s per scenario, {} connections, {} req/s offered; {} cores; kasir at {}",
        cli.seconds,
        cli.concurrency,
        cli.rate,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        kasir.display()
    );

    // What the disk allows: every durable commit waits for one fdatasync.
    let (p50, p99, p999, max) = fsync_probe(&work, if cli.smoke { 200 } else { 2000 })?;
    println!("disk: fdatasync of 8 KiB: p50 {p50:.0} µs, p99 {p99:.0} µs, p99.9 {p999:.0} µs, max {max:.0} µs");

    let wants = |part: &str| cli.only.is_empty() || cli.only.iter().any(|o| o == part);
    let (mut load_peak, mut steady_peak, mut burst_peak) = (0.0f64, 0.0f64, 0.0f64);
    let mut pg_db = None;
    if wants("load") {
        load_peak = load_scenarios(&cli, &kasir, &work, &mut pg_db).await?;
    }
    if wants("steady") || wants("burst") {
        settle_disk();
        println!("\nLifecycle (Kasir on SQLite, sandbox delay 1 s, webhooks to a local receiver):");
    }
    if wants("steady") {
        steady_peak = steady_lifecycle(&cli, &kasir, &work).await?;
    }
    if wants("burst") {
        burst_peak = burst_lifecycle(&cli, &kasir, &work).await?;
    }
    if wants("ovo") {
        settle_disk();
        let hold = if cli.ovo_pushes >= 1000 { 45 } else { 5 };
        let d = Duration::from_secs(cli.seconds.min(5));
        ovo::held_pushes(&kasir, &work, cli.ovo_pushes, hold, cli.concurrency, d).await?;
    }
    if wants("memory") {
        // Memory: idle with many payins stored, and the peak under the loads above.
        let url = format!("sqlite://{}", work.join("idle.db").display());
        let filled = Instant::now();
        fill::payins(&url, cli.idle_payins).await?;
        let idle = procs::start_kasir(&kasir, "kasir-idle", &url, &[])?;
        let get = get_request(Kind::Kasir, "pay_aaaaaaaaaaaaaaaaaaaa");
        closed_loop(&idle.addr, 1, Duration::from_millis(100), 0, move |_, _| get.clone()).await;
        tokio::time::sleep(Duration::from_secs(if cli.smoke { 1 } else { 3 })).await;
        let idle_rss = idle.rss_mib();
        idle.stop();
        println!(
            "\nMemory: idle RSS with {} payins stored: {idle_rss:.1} MiB (filled in {:.0} s); peak under load: {:.1} MiB",
            cli.idle_payins,
            filled.elapsed().as_secs_f64(),
            load_peak.max(steady_peak).max(burst_peak)
        );
        if cli.idle_payins >= 1_000_000 {
            verdict("idle RSS with 1,000,000 payins", idle_rss, 64.0, false, " MiB");
        }
    }
    if wants("load") && wants("steady") && wants("burst") {
        verdict("peak RSS under load", load_peak.max(steady_peak).max(burst_peak), 256.0, false, " MiB");
    }
    drop(pg_db);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Steady confirms, each settled by the sandbox 1 s later and reported by webhook; returns peak RSS.
async fn steady_lifecycle(cli: &Cli, kasir: &std::path::Path, work: &std::path::Path) -> Result<f64, String> {
    let d = Duration::from_secs(cli.seconds);
    let receiver = Receiver::start().await;
    let url = format!("sqlite://{}", work.join("steady.db").display());
    let steady = procs::start_kasir(kasir, "kasir-steady", &url, &LIFECYCLE_WORKERS)?;
    let req = create_request(Kind::Kasir, Some(&receiver.url));
    let stats = open_loop(&steady.addr, cli.steady_rate, d, 256, move |_| req.clone()).await;
    let want = stats.ok as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.count("payin.succeeded") < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lags: Vec<f64> = receiver
        .of("payin.succeeded")
        .iter()
        .filter_map(|(created, at)| {
            let due = parse_ts(created)? + Duration::from_secs(1);
            Some(match at.duration_since(due) {
                Ok(d) => d.as_secs_f64() * 1000.0,
                Err(e) => -e.duration().as_secs_f64() * 1000.0,
            })
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    println!(
        "  {} confirms at {}/s; {} settled and reported; due-to-webhook lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; peak RSS {:.1} MiB",
        want,
        cli.steady_rate,
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        steady.peak_rss_mib()
    );
    let peak = steady.peak_rss_mib();
    steady.stop();
    verdict(&format!("steady {}/s: lag p99", cli.steady_rate), percentile(&lags, 0.99), 1000.0, false, " ms");
    Ok(peak)
}

/// Attempts made while no worker runs, then all due at once when one starts; returns peak RSS.
async fn burst_lifecycle(cli: &Cli, kasir: &std::path::Path, work: &std::path::Path) -> Result<f64, String> {
    let receiver = Receiver::start().await;
    let url = format!("sqlite://{}", work.join("burst.db").display());
    let out = procs::kasir_cmd(kasir, &url, &["events", "disable", "payin.requires_action"])?;
    if !out.status.success() {
        return Err(format!("kasir events disable: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let api_only = procs::start_kasir(kasir, "kasir-burst", &url, &["--sandbox-delay", "1s", "--no-workers"])?;
    let n = cli.burst;
    let req = create_request(Kind::Kasir, Some(&receiver.url));
    let made = client::closed_loop_count(&api_only.addr, 32, n, move |_| req.clone()).await;
    api_only.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await; // every outcome is now due
    let started = Instant::now();
    let workers = procs::start_kasir(kasir, "kasir-burst", &url, &LIFECYCLE_WORKERS)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while receiver.count("payin.succeeded") < made && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "  burst: {made} attempts due at once: {} settled and their webhooks received in {took:.2} s (process start included); peak RSS {:.1} MiB",
        receiver.count("payin.succeeded"),
        workers.peak_rss_mib()
    );
    let peak = workers.peak_rss_mib();
    workers.stop();
    if n >= 100_000 {
        verdict(&format!("{made} due at once: all settled and delivered"), took, 10.0, false, " s");
    }
    Ok(peak)
}

/// Kasir (SQLite, PostgreSQL), the ceiling and localstripe, each through the same scenarios; prints the
/// table and the ratios, and returns Kasir's peak RSS.
async fn load_scenarios(
    cli: &Cli,
    kasir: &std::path::Path,
    work: &std::path::Path,
    pg_db: &mut Option<fill::PgDatabase>,
) -> Result<f64, String> {
    let d = Duration::from_secs(cli.seconds);
    let warm = Duration::from_millis(if cli.smoke { 200 } else { 1000 });
    // The servers, each its own process.
    let mut servers: Vec<(Kind, Server)> = Vec::new();
    servers.push((Kind::Ceiling, procs::start_ceiling()?));
    let sqlite_url = format!("sqlite://{}", work.join("kasir.db").display());
    servers.push((Kind::Kasir, procs::start_kasir(kasir, "kasir-sqlite", &sqlite_url, &["--sandbox-delay", "1h"])?));
    if let Some(admin) = &cli.postgres {
        let db = fill::PgDatabase::create(admin)?;
        servers.push((
            Kind::Kasir,
            procs::start_kasir(kasir, "kasir-postgres", &db.url, &["--sandbox-delay", "1h", "--pg-pool-size", "16"])?,
        ));
        *pg_db = Some(db);
    } else {
        println!("PostgreSQL: skipped (set KASIR_BENCH_POSTGRES_URL or --postgres to measure it)");
    }
    if cli.no_localstripe {
        println!("localstripe: skipped (--no-localstripe)");
    } else {
        match procs::start_localstripe(&cli.workdir) {
            Ok(s) => servers.push((Kind::Localstripe, s)),
            Err(e) => println!("localstripe: skipped: {e}"),
        }
    }

    let mut rows: Vec<Row> = Vec::new();
    for (kind, server) in &servers {
        // Each server starts on a quiet disk: what the one before wrote is written back first, rather
        // than competing with this one's commits.
        settle_disk();
        let c = if *kind == Kind::Localstripe { cli.concurrency.min(8) } else { cli.concurrency };
        let req = create_request(*kind, None);
        let r = req.clone();
        closed_loop(&server.addr, c, warm, 0, move |_, _| r.clone()).await;
        let r = req.clone();
        let stats = closed_loop(&server.addr, c, d, 64, move |_, _| r.clone()).await;
        let ids = Arc::new(ids_of(*kind, &stats.samples));
        rows.push(Row::of(format!("create+confirm (c={c})"), server, stats));
        let k = *kind;
        let ids2 = ids.clone();
        let stats = closed_loop(&server.addr, c, d, 0, move |conn, i| {
            let id = if k == Kind::Ceiling || ids2.is_empty() {
                "pay_cmrq5c74r2tr8tu3s2gg".to_string()
            } else {
                ids2[(conn * 7919 + i) % ids2.len()].clone()
            };
            get_request(k, &id)
        })
        .await;
        rows.push(Row::of(format!("GET payin (c={c})"), server, stats));
        if k == Kind::Kasir {
            // A Kasir from before checkouts (measured against for an A/B) makes none: the row is left out;
            // one from before the pages shows every GET failed.
            let tokens = checkout_tokens(&server.addr, if cli.smoke { 20 } else { 200 }).await;
            if tokens.is_empty() {
                println!("{}: GET checkout page skipped (no checkout could be made)", server.name);
            } else {
                let tokens = Arc::new(tokens);
                let stats = closed_loop(&server.addr, c, d, 0, move |conn, i| {
                    page_request(&tokens[(conn * 7919 + i) % tokens.len()])
                })
                .await;
                rows.push(Row::of(format!("GET checkout page (c={c})"), server, stats));
            }
            let database = if server.name == "kasir-sqlite" {
                sqlite_url.clone()
            } else {
                pg_db.as_ref().map(|d| d.url.clone()).unwrap_or_default()
            };
            match dashboard_session(kasir, &database, &server.addr).await {
                None => println!("{}: GET dashboard payins skipped (no dashboard session)", server.name),
                Some(cookie) => {
                    let req = Request::new("GET", "/dashboard/payins", &[("cookie", cookie)], b"");
                    let stats = closed_loop(&server.addr, c, d, 0, move |_, _| req.clone()).await;
                    rows.push(Row::of(format!("GET dashboard payins (c={c})"), server, stats));
                }
            }
        }
        // Each server's scenarios run back to back, so no server is measured while another's database
        // is still writing back what it was given (PostgreSQL's checkpoints share the disk).
        let req = create_request(*kind, None);
        let workers = if *kind == Kind::Localstripe { 16 } else { 256 };
        let stats = open_loop(&server.addr, cli.rate, d, workers, move |_| req.clone()).await;
        rows.push(Row::of(format!("create+confirm at {} req/s", cli.rate), server, stats));
    }
    // Printed by scenario, then by server.
    let order = |s: &str| {
        ["create+confirm (c", "GET payin", "GET checkout page", "GET dashboard payins", "create+confirm at"]
            .iter()
            .position(|p| s.starts_with(p))
    };
    rows.sort_by_key(|r| order(&r.scenario));
    print_rows(&rows);

    println!("\nRatios (same run, same machine):");
    let rate = |s: &str, t: &str| find(&rows, s, t).map(|r| r.stats.rate());
    if let (Some(k), Some(c)) = (rate("create+confirm (c", "kasir-sqlite"), rate("create+confirm (c", "ceiling")) {
        verdict("create+confirm, SQLite: Kasir / ceiling POST", k / c, 0.25, true, "");
    }
    if let (Some(k), Some(l)) = (rate("create+confirm (c", "kasir-sqlite"), rate("create+confirm (c", "localstripe")) {
        verdict("create+confirm, SQLite: Kasir / localstripe", k / l, 300.0, true, "");
    }
    if let (Some(k), Some(c)) = (rate("GET payin", "kasir-sqlite"), rate("GET payin", "ceiling")) {
        verdict("GET payin, SQLite: Kasir / ceiling GET", k / c, 0.60, true, "");
    }
    if let (Some(p), Some(g)) = (rate("GET checkout page", "kasir-sqlite"), rate("GET payin", "kasir-sqlite")) {
        println!(
            "  {:<58} {:>10.2} (HTML from the payin, its checkout, attempts and account)",
            "GET checkout page / GET payin, SQLite",
            p / g
        );
    }
    if let (Some(p), Some(g)) = (rate("GET dashboard payins", "kasir-sqlite"), rate("GET payin", "kasir-sqlite")) {
        println!(
            "  {:<58} {:>10.2} (a session read, 25 payins of thousands, HTML)",
            "GET dashboard payins / GET payin, SQLite",
            p / g
        );
    }
    if let Some(r) = find(&rows, "create+confirm at", "kasir-sqlite") {
        verdict(
            &format!("create+confirm, SQLite: p99 at {} req/s offered", cli.rate),
            r.stats.ms(0.99),
            5.0,
            false,
            " ms",
        );
    }
    if let Some(k) = rate("create+confirm (c", "kasir-postgres") {
        verdict("create+confirm, PostgreSQL (16 connections): req/s", k, 5000.0, true, "");
    }
    let load_peak =
        servers.iter().filter(|(k, _)| *k == Kind::Kasir).map(|(_, s)| s.peak_rss_mib()).fold(0.0, f64::max);
    drop(servers);
    Ok(load_peak)
}

/// Writes back every dirty page on the machine (`sync`), so the next measurement does not pay for the
/// last one's writes.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}

/// Times `n` 8 KiB appends each followed by fdatasync; returns p50, p99, p99.9 and max in µs.
fn fsync_probe(dir: &std::path::Path, n: usize) -> Result<(f64, f64, f64, f64), String> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe.bin");
    let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let buf = vec![7u8; 8192];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        f.write_all(&buf).map_err(|e| e.to_string())?;
        let t = Instant::now();
        f.sync_data().map_err(|e| e.to_string())?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let _ = std::fs::remove_file(&path);
    lat.sort_by(f64::total_cmp);
    Ok((percentile(&lat, 0.5), percentile(&lat, 0.99), percentile(&lat, 0.999), lat[n - 1]))
}

fn tempfile_dir(root: &std::path::Path) -> Result<PathBuf, String> {
    let dir = root.join(format!("run-{}", kasir_domain::id::xid()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}
