//! Kasir assembled: one [`Application::build`] wires the store, the application layer, the HTTP API and
//! the job runner, and `main`, the integration tests and the benchmark all use it, so a test runs what
//! production runs.

pub mod logging;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use kasir_api::limits::LimitConfig;
use kasir_api::observe::{Observability, WorkerPulse};
pub use kasir_api::ServerConfig;
use kasir_app::keys::KeyPair;
use kasir_app::wallet::calls::LIVE_WALLET_CALL;
use kasir_app::wallet::{LiveOvo, OvoConfig, SandboxWallet};
use kasir_app::{accounts, App, Wallet, Wallets};
use kasir_domain::{Clock, PayinRules, SystemClock};
use kasir_store::{Store, StoreError, StoreOptions};
pub use kasir_worker::WorkerConfig;
use kasir_worker::WorkerMetrics;

/// Everything `kasir serve` can be told.
#[derive(Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    pub store: StoreOptions,
    pub listen: SocketAddr,
    pub rules: PayinRules,
    /// When the test-mode OVO sandbox answers an attempt or refund (the seed guide's 70 seconds).
    pub sandbox_delay: Duration,
    pub worker: WorkerConfig,
    /// How connections are treated: timeouts, and how many at once.
    pub server: ServerConfig,
    /// Rate limits, and which proxies name the client.
    pub limits: LimitConfig,
    /// Run the job runner in this process (`--no-workers` turns it off).
    pub workers: bool,
    pub clock: Arc<dyn Clock>,
    /// The wallet live keys pay with, when it is not OVO's API (tests); see `ovo`.
    pub live_wallet: Option<Arc<dyn Wallet>>,
    /// The connection to OVO's Push to Pay API that live keys pay with (`--ovo-*`). Without it (and
    /// without `live_wallet`) a live confirm is refused.
    pub ovo: Option<OvoConfig>,
    /// Where customers reach the hosted pages (`--public-url`): the base of a checkout's `url`.
    /// `None`: `http://` and the address Kasir listens on.
    pub public_url: Option<String>,
}

impl Config {
    /// The defaults of `kasir serve`, on `database`.
    pub fn new(database: &str) -> Config {
        Config {
            database: database.to_string(),
            store: StoreOptions { owner: true, ..StoreOptions::default() },
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rules: PayinRules::default(),
            sandbox_delay: Duration::from_secs(70),
            worker: WorkerConfig::default(),
            server: ServerConfig::default(),
            limits: LimitConfig::default(),
            workers: true,
            clock: Arc::new(SystemClock),
            live_wallet: None,
            ovo: None,
            public_url: None,
        }
    }
}

/// The OVO connection from `kasir serve`'s settings: all of them, or none (then `None`). A partial one
/// is an error naming what is missing.
#[derive(Debug, Default, Clone)]
pub struct OvoSettings {
    pub url: Option<String>,
    pub app_id: Option<String>,
    pub app_key: Option<String>,
    pub tid: Option<String>,
    pub mid: Option<String>,
    pub merchant_id: Option<String>,
    pub store_code: Option<String>,
    pub timeout: Duration,
    pub status_interval: Duration,
}

impl OvoSettings {
    pub fn config(self) -> Result<Option<OvoConfig>, String> {
        let fields = [
            ("--ovo-url (KASIR_OVO_URL)", &self.url),
            ("--ovo-app-id (KASIR_OVO_APP_ID)", &self.app_id),
            ("the app key (KASIR_OVO_APP_KEY or --ovo-app-key-file)", &self.app_key),
            ("--ovo-tid (KASIR_OVO_TID)", &self.tid),
            ("--ovo-mid (KASIR_OVO_MID)", &self.mid),
            ("--ovo-merchant-id (KASIR_OVO_MERCHANT_ID)", &self.merchant_id),
            ("--ovo-store-code (KASIR_OVO_STORE_CODE)", &self.store_code),
        ];
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let missing: Vec<&str> = fields.iter().filter(|(_, v)| !set(v)).map(|(name, _)| *name).collect();
        if missing.len() == fields.len() {
            return Ok(None);
        }
        if !missing.is_empty() {
            return Err(format!(
                "the OVO connection is only partly configured: missing {}. Give all of it for live payments, or none",
                missing.join(", ")
            ));
        }
        let get = |v: Option<String>| v.unwrap_or_default().trim().to_string();
        let url = get(self.url);
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => return Err(format!("--ovo-url {url:?}: expected an https URL, e.g. https://apigw.ovo.id/pos")),
        }
        if self.timeout.is_zero() || self.status_interval.is_zero() {
            return Err("--ovo-timeout and --ovo-status-interval must be more than zero".into());
        }
        Ok(Some(OvoConfig {
            url,
            app_id: get(self.app_id),
            app_key: get(self.app_key),
            terminal: kasir_app::wallet::ovo::Terminal {
                tid: get(self.tid),
                mid: get(self.mid),
                merchant_id: get(self.merchant_id),
                store_code: get(self.store_code),
            },
            timeout: self.timeout,
            status_interval: self.status_interval,
        }))
    }
}

/// Raises the soft limit of open files to the hard limit, so that `--max-connections` is not cut short
/// by a low default; returns the limit now in force.
pub fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Opens (creating and migrating) the database at `url`.
pub fn open_store(url: &str, opts: &StoreOptions) -> Result<Store, String> {
    Store::open_with(url, opts).map_err(|e| format!("cannot open {url}: {e}"))
}

/// A built Kasir, listening, not yet serving.
pub struct Application {
    app: App,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    server: ServerConfig,
    limits: LimitConfig,
    worker: Option<WorkerConfig>,
}

impl Application {
    /// Opens the store and binds the listener.
    pub async fn build(config: Config) -> Result<Application, String> {
        let store = open_store(&config.database, &config.store)?;
        let mut worker = config.worker;
        let live = match config.ovo {
            Some(ovo) => {
                if ovo.url.starts_with("http://") {
                    tracing::warn!(
                        url = ovo.url,
                        "--ovo-url is plain http: fine for a simulator on loopback, never for OVO"
                    );
                }
                // A push call may take the whole OVO timeout; past it (and a margin) it is given up for lost.
                worker.wallet_timeout = ovo.timeout + Duration::from_secs(2);
                Some(Arc::new(LiveOvo::new(ovo, config.clock.clone())?) as Arc<dyn Wallet>)
            }
            None => config.live_wallet,
        };
        if live.is_none() && config.workers {
            // Live calls left by a process that had the OVO settings wait for one that has them again.
            let now = config.clock.now();
            let due = store.read(move |tx| tx.due_by_kind(now)).await.map_err(|e| e.to_string())?;
            let waiting: i64 = due.iter().filter(|(k, _, _)| k == LIVE_WALLET_CALL).map(|(_, n, _)| n).sum();
            if waiting > 0 {
                tracing::warn!(
                    waiting,
                    "live OVO calls (pushes, status checks, reversals, voids) are due, and this process has no --ovo-* settings: they wait for a process that has them"
                );
            }
        }
        let wallets = Wallets::new(Arc::new(SandboxWallet::new(config.sandbox_delay)), live);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let pages = config.public_url.unwrap_or_else(|| format!("http://{addr}"));
        let app = App::new(store, config.clock, config.rules, wallets, &pages);
        let worker = config.workers.then_some(worker);
        Ok(Application { app, listener, addr, server: config.server, limits: config.limits, worker })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// On a database with no keys at all, creates the default account and a test key pair.
    pub async fn bootstrap(&self) -> Result<Option<KeyPair>, String> {
        let now = self.app.clock.now();
        self.app.store.write(move |tx| accounts::bootstrap(tx, now)).await.map_err(|e: StoreError| e.to_string())
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the job runner.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker_metrics = WorkerMetrics::default();
        let pulse: Option<WorkerPulse> = self.worker.as_ref().map(|_| {
            let m = worker_metrics.clone();
            Arc::new(move || m.since_last_pass()) as WorkerPulse
        });
        let mut observe = Observability::new(pulse);
        self.app.store.metrics().register(observe.registry_mut());
        worker_metrics.register(observe.registry_mut());
        if let Some(live) = self.app.wallets.of(kasir_domain::Mode::Live) {
            live.register(observe.registry_mut());
        }
        let worker = self
            .worker
            .map(|config| tokio::spawn(kasir_worker::run(self.app.clone(), config, worker_metrics, stopped)));
        let api = kasir_api::api(kasir_api::AppState::new(self.app, observe, &self.limits));
        let served = kasir_api::serve(self.listener, api, self.server, shutdown).await.map_err(|e| e.to_string());
        let _ = stop.send(true);
        if let Some(w) = worker {
            let _ = w.await;
        }
        served
    }
}
