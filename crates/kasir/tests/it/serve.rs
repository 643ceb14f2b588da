//! Whole `kasir` processes for the tests that need one: the CLI, and `kasir serve` started, stopped
//! and killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{SEED_ACCESS_KEY, SEED_SECRET_KEY};

/// Runs `kasir ARGS` on `db` and waits for it.
pub fn kasir(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(args)
        .env("DATABASE_URL", db)
        .env_remove("KASIR_LISTEN")
        .output()
        .expect("run kasir")
}

/// `kasir ARGS… --api-url BASE`, with the seed guide's key pair in `KASIR_API_KEY`: a command that
/// speaks to a running server through its API.
pub fn remote(base: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kasir"));
    c.args(args).args(["--api-url", base]).env("KASIR_API_KEY", format!("{SEED_ACCESS_KEY}:{SEED_SECRET_KEY}"));
    c
}

/// What a command printed, both streams.
pub fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Registers the seed guide's key pair, as an operator would.
pub fn add_seed_keys(db: &str) {
    let add = kasir(db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(add.status.success(), "{}", text(&add));
}

/// A running `kasir serve`.
pub struct Served {
    pub child: Child,
    pub addr: String,
    /// Its first log line, which says where it listens.
    pub log_line: String,
}

/// Starts `kasir serve` on a free port of 127.0.0.1; `stdout` keeps its standard output to read.
pub fn start(db: &str, extra: &[&str], stdout: bool) -> Served {
    start_at(db, "127.0.0.1:0", extra, stdout)
}

/// Starts `kasir serve` listening on `listen` (a fixed port, for a restart at the same address).
pub fn start_at(db: &str, listen: &str, extra: &[&str], stdout: bool) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["serve", "--listen", listen, "--database", db, "--pg-pool-size", "8"])
        .args(extra)
        .env("KASIR_LOG", "info")
        .stdout(if stdout { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kasir serve");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    // The line that says where it listens; anything logged before it is kept for the message if the
    // process ends without listening.
    let mut before = String::new();
    let log_line = loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("kasir serve ended ({status}) without listening; it logged:\n{before}");
        }
        if line.contains("listening on http://") {
            break line;
        }
        before.push_str(&line);
    };
    let addr = log_line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    // Keep draining the log so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});
    Served { child, addr, log_line }
}

/// Starts `kasir serve`; returns the process and its address.
pub fn spawn_serve(db: &str, extra: &[&str]) -> (Child, String) {
    let s = start(db, extra, false);
    (s.child, s.addr)
}

/// Stops a server with SIGTERM, asserts it exits cleanly within 10 s, and returns what it printed on
/// standard output since it was last read.
pub async fn sigterm(mut child: Child) -> String {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "kasir exits cleanly on SIGTERM: {status}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "kasir did not stop within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut rest = String::new();
        if let Some(mut so) = child.stdout.take() {
            std::io::Read::read_to_string(&mut so, &mut rest).ok();
        }
        rest
    })
    .await
    .unwrap()
}
