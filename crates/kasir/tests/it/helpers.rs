//! Spawning Kasir for a test, speaking to it, and looking at what it stored.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use kasir::{Application, Config, LimitConfig, ServerConfig, WorkerConfig};
use kasir_app::accounts;
use kasir_app::keys::KeyPair;
use kasir_client::{Confirm, CustomerDetails, NewPayin, Phone};
use kasir_domain::{Clock, ManualClock, Mode, PayinRules, SystemClock, Timestamp};
use kasir_store::{Store, StoreError, StoreOptions};
use serde_json::{json, Value};

/// The key pair of the seed guide's curl commands.
pub const SEED_ACCESS_KEY: &str = "ak_test_YLSUAE0V4BHJH8X486OC";
pub const SEED_SECRET_KEY: &str = "sk_test_HM8C7HERWPf85OfqB1xKMBI1iD6uVa12QcvTNYyRaHxQf5S9oieKh9Vsz87rxmHJZJW2LwUsCRcdVmDtwE8CEducHQtg5T3V9u6ImAinvGb28VyxSUYlM1LYiemO4Lqm";
/// The seed's `authorization` header, verbatim.
pub const SEED_AUTHORIZATION: &str = "Basic YWtfdGVzdF9ZTFNVQUUwVjRCSEpIOFg0ODZPQzpza190ZXN0X0hNOEM3SEVSV1BmODVPZnFCMXhLTUJJMWlENnVWYTEyUWN2VE5ZeVJhSHhRZjVTOW9pZUtoOVZzejg3cnhtSEpaSlcyTHdVc0NSY2RWbUR0d0U4Q0VkdWNIUXRnNVQzVjl1NkltQWludkdiMjhWeXhTVVlsTTFMWWllbU80THFt";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    /// Set by `backend_tests!` for the test body; `TestApp` and `fresh_database` read it.
    pub static BACKEND: Backend;
}

pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// The server the PostgreSQL variants use: `KASIR_TEST_POSTGRES_URL`, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (a role that may create databases).
pub fn postgres_url() -> Option<String> {
    std::env::var("KASIR_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty())
}

/// Whether the PostgreSQL variants run; says once, on the terminal, how to enable them when they don't.
pub fn postgres_enabled() -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    let on = postgres_url().is_some();
    if !on {
        SAID.call_once(|| {
            use std::io::Write as _;
            // Written past the test harness's capture, so it shows in every run.
            let _ = writeln!(
                std::io::stderr(),
                "\nPostgreSQL tests SKIPPED: set KASIR_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
                 (any role that may CREATE DATABASE) to run the whole suite on PostgreSQL too.\n"
            );
        });
    }
    on
}

/// Runs each test body once on SQLite and once on PostgreSQL (when enabled); the variants are the
/// tests `NAME::sqlite` and `NAME::postgres`.
macro_rules! backend_tests {
    ($( async fn $name:ident() $body:block )*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::BACKEND.scope($crate::helpers::Backend::Sqlite, async $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_enabled() {
                    return;
                }
                $crate::helpers::BACKEND.scope($crate::helpers::Backend::Postgres, async $body).await
            }
        }
    )*};
}

/// A database of its own for one test: a file in a temporary directory, or a PostgreSQL database
/// created for the test and dropped when this is dropped.
pub struct FreshDatabase {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

/// Runs blocking PostgreSQL admin work off the async runtime's threads.
fn pg_admin(sql: String) {
    let admin = postgres_url().expect("KASIR_TEST_POSTGRES_URL");
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to KASIR_TEST_POSTGRES_URL");
        c.batch_execute(&sql).expect("admin statement");
    })
    .join()
    .expect("admin thread");
}

/// Points `base` (a postgres:// URL) at database `name`.
pub fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl FreshDatabase {
    /// A database another test app owns, for a second process on it: nothing is dropped with this.
    pub fn shared(url: &str) -> FreshDatabase {
        FreshDatabase { url: url.to_string(), pg_name: None, _dir: tempfile::tempdir().expect("temp dir") }
    }
}

pub fn fresh_database() -> FreshDatabase {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend() {
        Backend::Sqlite => FreshDatabase {
            url: format!("sqlite://{}", dir.path().join("kasir.db").display()),
            pg_name: None,
            _dir: dir,
        },
        Backend::Postgres => {
            let name = format!("kasir_test_{}", kasir_domain::id::xid());
            pg_admin(format!("CREATE DATABASE {name}"));
            let url = with_database(&postgres_url().unwrap(), &name);
            FreshDatabase { url, pg_name: Some(name), _dir: dir }
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            pg_admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub fn basic(ak: &str, sk: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ak}:{sk}")))
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub clock: ManualClock,
    /// `Authorization` for the seed's test key.
    pub test_auth: String,
    /// `Authorization` for a live key of the same account.
    pub live_auth: String,
    /// The SDK on the test key pair: how typed behaviour is exercised.
    pub kasir: kasir_client::Client,
    /// The SDK on the live key pair.
    pub live: kasir_client::Client,
    _stop: tokio::sync::watch::Sender<bool>,
    _db: FreshDatabase,
}

/// An HTTP answer: status, parsed body and the raw bytes.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn id(&self) -> String {
        self.body["data"]["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_string()
    }

    /// Asserts a single-entry error envelope with this status, code and remarks.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64, remarks: &str) {
        assert_eq!(self.status, status, "status of {}", self.body);
        assert_eq!(self.body["status"], "error", "{}", self.body);
        assert!(self.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
        let errors = self.body["errors"].as_array().unwrap_or_else(|| panic!("no errors in {}", self.body));
        assert_eq!(errors.len(), 1, "{}", self.body);
        assert_eq!(errors[0]["code"], code, "{}", self.body);
        assert_eq!(errors[0]["remarks"], remarks, "{}", self.body);
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
    }
}

/// What a test may set of the server it starts.
#[derive(Clone)]
pub struct Settings {
    pub approval_window: Duration,
    pub sandbox_delay: Duration,
    pub server: ServerConfig,
    pub limits: LimitConfig,
    /// A connection to OVO (the simulator) for live keys.
    pub ovo: Option<kasir_app::wallet::OvoConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        let (rules, config) = (PayinRules::default(), Config::new(""));
        Settings {
            approval_window: rules.approval_window,
            sandbox_delay: config.sandbox_delay,
            server: config.server,
            limits: config.limits,
            ovo: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Settings::default()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::spawn_full(settings, false).await
    }

    /// `real_clock`: use the system clock (for tests that measure real lag) instead of a manual one.
    pub async fn spawn_full(settings: Settings, real_clock: bool) -> TestApp {
        let db = fresh_database();
        let url = db.url.clone();
        Self::spawn_at(db, &url, settings, real_clock).await
    }

    /// Spawns with `wallet` as the live keys' wallet.
    pub async fn spawn_with_live_wallet(wallet: Arc<dyn kasir_app::Wallet>) -> TestApp {
        let db = fresh_database();
        let url = db.url.clone();
        Self::build(db, &url, Settings::default(), false, Some(wallet)).await
    }

    /// Spawns on `db`, reaching it at `url` (which may lead through a proxy).
    pub async fn spawn_at(db: FreshDatabase, url: &str, settings: Settings, real_clock: bool) -> TestApp {
        Self::build(db, url, settings, real_clock, None).await
    }

    /// The application as `kasir serve` builds it, on 127.0.0.1:0, with a manual clock unless
    /// `real_clock`.
    async fn build(
        db: FreshDatabase,
        url: &str,
        settings: Settings,
        real_clock: bool,
        live_wallet: Option<Arc<dyn kasir_app::Wallet>>,
    ) -> TestApp {
        let clock = ManualClock::new(SystemClock.now());
        let app_clock: Arc<dyn Clock> = if real_clock { Arc::new(SystemClock) } else { Arc::new(clock.clone()) };
        let config = Config {
            store: StoreOptions { pg_pool_size: 8, owner: true },
            listen: "127.0.0.1:0".parse().unwrap(),
            rules: PayinRules { approval_window: settings.approval_window, ..PayinRules::default() },
            sandbox_delay: settings.sandbox_delay,
            worker: WorkerConfig {
                webhook_timeout: Duration::from_secs(5),
                poll: Duration::from_millis(20),
                ..WorkerConfig::default()
            },
            server: settings.server,
            limits: settings.limits,
            clock: app_clock,
            live_wallet,
            ovo: settings.ovo,
            ..Config::new(url)
        };
        let application = Application::build(config).await.expect("build");
        let (store, addr) = (application.app().store.clone(), application.addr());
        let now = clock.now();
        let live = KeyPair::generate(Mode::Live);
        let live_auth = basic(&live.access_key, &live.secret_key);
        let live_sdk = kasir_client::Client::new(&format!("http://{addr}"), &live.access_key, &live.secret_key);
        store
            .write(move |tx| -> Result<(), StoreError> {
                let seed = KeyPair::parse(SEED_ACCESS_KEY, SEED_SECRET_KEY).expect("seed keys");
                let account = accounts::default_account(tx, now)?;
                // A second process on one database finds the seed key there already.
                if tx.key(SEED_ACCESS_KEY)?.is_none() {
                    accounts::add_key(tx, &seed, &account, now)?;
                }
                accounts::add_key(tx, &live, &account, now)?;
                Ok(())
            })
            .await
            .expect("keys");
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(application.run(async move {
            let _ = stopped.changed().await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            store,
            clock,
            test_auth: basic(SEED_ACCESS_KEY, SEED_SECRET_KEY),
            live_auth,
            kasir: kasir_client::Client::new(&format!("http://{addr}"), SEED_ACCESS_KEY, SEED_SECRET_KEY),
            live: live_sdk,
            _stop: stop,
            _db: db,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body, bytes, headers }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(&self.test_auth), &[], Some(&body.to_string())).await
    }

    pub async fn post_with_key(&self, path: &str, body: &Value, key: &str) -> Answer {
        self.send("POST", path, Some(&self.test_auth), &[("idempotency-key", key)], Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, Some(&self.test_auth), &[], None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send("PUT", path, Some(&self.test_auth), &[], Some(&body.to_string())).await
    }

    /// Creates a payin in `requires_payment_method` and returns its id.
    pub async fn create_payin(&self, amount: i64) -> String {
        self.kasir.create_payin(&new_payin(amount)).await.expect("create a payin").id
    }

    /// Creates and confirms a payin; returns the confirmed payin.
    pub async fn confirmed_payin(&self, amount: i64) -> kasir_client::Payin {
        let id = self.create_payin(amount).await;
        self.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.expect("confirm")
    }

    /// A payin paid through the sandbox control, with `number` and its events going to `url` (if any).
    pub async fn paid_payin(&self, amount: i64, number: &str, url: Option<&str>) -> kasir_client::Payin {
        let mut new = new_payin(amount);
        new.webhook_url = url.map(str::to_string);
        let id = self.kasir.create_payin(&new).await.expect("create a payin").id;
        let p = self.kasir.confirm_payin_with(&id, &confirm(number)).await.expect("confirm");
        self.kasir.sandbox_attempt(&p.latest_payment_attempt, true, None).await.expect("succeed");
        self.kasir.payin(&p.id).await.expect("read the payin")
    }

    pub async fn row_counts(&self) -> Vec<(&'static str, i64)> {
        self.store.read(|tx| tx.row_counts()).await.expect("counts")
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.row_counts().await.into_iter().find(|(t, _)| *t == table).map(|(_, n)| n).expect("table")
    }
}

/// Settings with a short sandbox delay.
pub fn quick_rules(delay: Duration) -> Settings {
    Settings { sandbox_delay: delay, ..Settings::default() }
}

impl TestApp {
    /// Runs SQL on the test's database directly, beside Kasir: for what the API cannot set up, such as
    /// a stored object that no longer decodes.
    pub async fn sql(&self, statements: &str) {
        let (url, statements) = (self._db.url.clone(), statements.to_string());
        tokio::task::spawn_blocking(move || match url.strip_prefix("sqlite://") {
            Some(path) => rusqlite::Connection::open(path).unwrap().execute_batch(&statements).unwrap(),
            None => postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(&statements).unwrap(),
        })
        .await
        .unwrap();
    }

    /// The database's URL, for a `kasir` command run beside the server.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// The default account's id.
    /// Turns an event type's webhooks on or off for the default account.
    pub async fn switch_event_type(&self, kind: kasir_domain::EventType, on: bool) {
        let now = Clock::now(&self.clock);
        self.store
            .write(move |tx| {
                let account = accounts::default_account(tx, now)?;
                accounts::set_event_type(tx, &account, kind, on)
            })
            .await
            .expect("switch an event type");
    }

    pub async fn account(&self) -> String {
        self.store.read(|tx| tx.first_account()).await.unwrap().unwrap()
    }

    /// Moves the manual clock forward, once the workers have nothing in hand (a jump past a lease while
    /// a delivery is in flight would model a receiver that took that long, and so a second try).
    pub async fn advance(&self, d: Duration) {
        self.idle().await;
        self.clock.advance(d);
    }

    /// Waits until no job is due or leased: every delivery that could be made now has been recorded.
    pub async fn idle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.clock.now();
            let (due, leased, _) = self.store.read(move |tx| tx.job_counts(now)).await.expect("job counts");
            if due == 0 && leased == 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "workers still busy: {due} due, {leased} leased");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `payin_body` as the SDK's request.
pub fn new_payin(amount: i64) -> NewPayin {
    NewPayin::new("IDR", amount, "1 X Good")
}

/// `confirm_body` as the SDK's request: `number` as given (the sandbox's `0123456789` included).
pub fn confirm(number: &str) -> Confirm {
    Confirm::new(Phone { calling_code: "62".into(), number: number.into() }).customer_details(CustomerDetails::new(
        "Andrea Lark",
        "andrea@example.com",
        "ID",
    ))
}

/// The tries recorded for `event`, once there are `n` (or after 5 s, whatever there are).
pub async fn deliveries(kasir: &kasir_client::Client, event: &str, n: usize) -> Vec<kasir_client::Delivery> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let tries = kasir.deliveries(event).await.expect("deliveries").data;
        if tries.len() >= n || std::time::Instant::now() > deadline {
            return tries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that the SDK's call was refused with this status, Tazapay code and field.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, kasir_client::Error>,
    status: u16,
    code: u32,
    remarks: &str,
) {
    match result {
        Err(kasir_client::Error::Api { status: s, code: c, remarks: r, message, .. }) => {
            assert_eq!((s, c, r.as_str()), (status, code, remarks), "{message}")
        }
        other => panic!("expected {status} {code} ({remarks}), got {other:?}"),
    }
}

pub fn payin_body(amount: i64) -> Value {
    json!({
        "invoice_currency": "IDR",
        "amount": amount,
        "transaction_description": "1 X Good"
    })
}

pub fn confirm_body(number: &str) -> Value {
    json!({
        "customer_details": {"name": "Andrea Lark", "email": "andrea@example.com", "country": "ID"},
        "payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": number}}}
    })
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
    pub at: std::time::SystemTime,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }
}

/// A local webhook receiver: records every request, and answers with the statuses it was given (in
/// order, then 200).
#[derive(Clone)]
pub struct Receiver {
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::answering(vec![]).await
    }

    pub async fn answering(statuses: Vec<(u16, Option<&'static str>)>) -> Receiver {
        Self::build(statuses, None).await
    }

    /// Records the first webhook of type `kind` and then never answers it (within any test's time);
    /// answers everything else with 200.
    pub async fn stalling_first(kind: &'static str) -> Receiver {
        Self::build(vec![], Some(kind)).await
    }

    async fn build(statuses: Vec<(u16, Option<&'static str>)>, stall: Option<&'static str>) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(statuses)));
        let stall = Arc::new(Mutex::new(stall));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/webhook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (h, script, stall) = (h.clone(), script.clone(), stall.clone());
                async move {
                    let hit = Hit { headers, body: body.to_vec(), at: std::time::SystemTime::now() };
                    let stalls = {
                        let mut stall = stall.lock().unwrap();
                        let hit_type = hit.json()["type"].as_str().map(str::to_string);
                        let hold = stall.is_some() && hit_type.as_deref() == *stall;
                        if hold {
                            *stall = None;
                        }
                        hold
                    };
                    h.lock().unwrap().push(hit);
                    if stalls {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                    }
                    let (status, retry_after) = script.lock().unwrap().pop_front().unwrap_or((200, None));
                    let mut res = axum::response::IntoResponse::into_response((
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        "ok",
                    ));
                    if let Some(ra) = retry_after {
                        res.headers_mut().insert("retry-after", ra.parse().unwrap());
                    }
                    res
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { hits, url }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The hits whose event type is `kind`.
    pub fn of_type(&self, kind: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.json()["type"] == kind).collect()
    }

    /// Waits (up to `secs` seconds of real time) until `pred` holds for the hits so far.
    pub async fn wait_for(&self, secs: u64, pred: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let hits = self.hits();
            if pred(&hits) {
                return hits;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for webhooks; got {} so far", hits.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether `s` is `prefix` followed by a 20-character xid.
pub fn is_id(s: &Value, prefix: &str) -> bool {
    s.as_str()
        .and_then(|s| s.strip_prefix(prefix))
        .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)))
}

/// Whether `s` is an RFC 3339 UTC timestamp with fractional seconds.
pub fn is_timestamp(s: &Value) -> bool {
    s.as_str().is_some_and(|s| s.ends_with('Z') && s.contains('.') && Timestamp::parse_rfc3339(s).is_some())
}
