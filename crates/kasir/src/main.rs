//! `kasir`: the payin gateway in one binary.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod api_commands;
mod commands;
mod export;
mod listen;
mod remote;
mod trigger;
use kasir::{Application, Config, LimitConfig, ServerConfig, WorkerConfig};
use kasir_app::keys::KeyPair;
use kasir_domain::{AmountLimits, MethodLimits, PayinRules, PaymentMethodType};
use kasir_store::{Store, StoreOptions};

#[derive(Parser)]
#[command(name = "kasir", version, about = "A payin gateway for OVO that speaks the Tazapay v3 API")]
struct Cli {
    /// Where the data lives: sqlite://PATH (created and migrated if missing).
    #[arg(long, global = true, env = "DATABASE_URL", default_value = "sqlite://kasir.db")]
    database: String,

    /// PostgreSQL connections each process uses at most.
    #[arg(long, global = true, env = "KASIR_PG_POOL_SIZE", default_value_t = 16)]
    pg_pool_size: usize,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and create a test key pair on first start).
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Copy a SQLite database, consistently, while `kasir serve` runs on it (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes (a new file).
        path: std::path::PathBuf,
    },
    /// Manage accounts: each has its own objects, keys, webhook secret and event settings, and the
    /// name its customers see on the hosted pages.
    #[command(subcommand)]
    Accounts(commands::AccountsCommand),
    /// Manage API key pairs.
    #[command(subcommand)]
    Keys(commands::KeysCommand),
    /// Show or rotate the webhook signing secret.
    #[command(subcommand, name = "webhook-secret")]
    WebhookSecret(commands::SecretCommand),
    /// Choose which event types are sent as webhooks.
    #[command(subcommand, name = "event-types")]
    EventTypes(commands::EventsCommand),
    /// The old name of `event-types`.
    #[command(subcommand, hide = true)]
    Events(commands::EventsCommand),
    /// Manage the people who sign in to the dashboard (not API keys).
    #[command(subcommand)]
    Users(commands::UsersCommand),
    /// Refunds that wait for a manual transfer, and recording their transfers (docs/ovo.md).
    #[command(subcommand)]
    Refunds(commands::RefundsCommand),
    /// Serve a simulator of OVO's host-to-host Push to Pay API, to test and rehearse against
    /// (docs/ovo.md). The app key comes from KASIR_OVO_APP_KEY or --app-key-file.
    #[command(name = "ovo-sim")]
    OvoSim(OvoSimArgs),
    /// Forward a Kasir server's events, as they happen, to a local URL, signed as real webhooks
    /// (the key from KASIR_API_KEY=ak_…:sk_… or --api-key-file).
    Listen(listen::ListenArgs),
    /// Make a test-mode event really happen on a Kasir server, through its API and sandbox controls
    /// (`kasir trigger payin.succeeded`; `--list` names them).
    Trigger(trigger::TriggerArgs),
    /// Export the payins or refunds made in a time range, for reconciliation, as CSV (the dashboard's
    /// columns) or JSON lines, through a Kasir server's API.
    Export(export::ExportArgs),
    /// Print a completion script for a shell: `kasir completions bash > /etc/bash_completion.d/kasir`,
    /// `kasir completions zsh > "${fpath[1]}/_kasir"`, `kasir completions fish > ~/.config/fish/completions/kasir.fish`.
    Completions { shell: clap_complete::Shell },
    /// Payins through a Kasir server's API: create, get, list, cancel.
    Payin {
        #[command(flatten)]
        common: api_commands::Common,
        #[command(subcommand)]
        cmd: api_commands::PayinCommand,
    },
    /// Refunds through a Kasir server's API: create, get.
    Refund {
        #[command(flatten)]
        common: api_commands::Common,
        #[command(subcommand)]
        cmd: api_commands::RefundCommand,
    },
    /// Checkouts through a Kasir server's API: create, get.
    Checkout {
        #[command(flatten)]
        common: api_commands::Common,
        #[command(subcommand)]
        cmd: api_commands::CheckoutCommand,
    },
    /// Events through a Kasir server's API: list, get, resend.
    Event {
        #[command(flatten)]
        common: api_commands::Common,
        #[command(subcommand)]
        cmd: api_commands::EventCommand,
    },
}

#[derive(clap::Args)]
struct OvoSimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8070")]
    listen: SocketAddr,
    /// The `app-id` every request must carry.
    #[arg(long, env = "KASIR_OVO_APP_ID")]
    app_id: String,
    /// A file holding the app key (else KASIR_OVO_APP_KEY): never a flag, which `ps` would show.
    #[arg(long)]
    app_key_file: Option<std::path::PathBuf>,
    /// How long a push that gets no answer holds its call, e.g. 70s.
    #[arg(long, default_value = "70s", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KASIR_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How long a customer has to approve the OVO push (`expires_at`), e.g. 5m, 70s.
    #[arg(long, env = "KASIR_APPROVAL_WINDOW", default_value = "5m", value_parser = parse_duration)]
    approval_window: Duration,
    /// How long a checkout stays open when its request sets no `expires_at`, e.g. 24h, 30m.
    #[arg(long, env = "KASIR_CHECKOUT_LIFETIME", default_value = "24h", value_parser = parse_duration)]
    checkout_lifetime: Duration,
    /// Where customers reach the hosted pages, e.g. https://pay.example.com: the base of a checkout's
    /// `url`. Default: http:// and the listen address.
    #[arg(long, env = "KASIR_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// Smallest ovo_idr amount, in minor units.
    #[arg(long, env = "KASIR_OVO_MIN_AMOUNT", default_value_t = kasir_domain::method::ovo::METHOD.default_limits.min)]
    ovo_min_amount: i64,
    /// Largest ovo_idr amount, in minor units.
    #[arg(long, env = "KASIR_OVO_MAX_AMOUNT", default_value_t = kasir_domain::method::ovo::METHOD.default_limits.max)]
    ovo_max_amount: i64,
    /// When the OVO sandbox answers a test-mode attempt, e.g. 70s, 2s, 500ms.
    #[arg(long, env = "KASIR_SANDBOX_DELAY", default_value = "70s", value_parser = parse_duration)]
    sandbox_delay: Duration,
    /// How long a webhook receiver has to answer before the try counts as failed.
    #[arg(long, env = "KASIR_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    webhook_timeout: Duration,
    /// Webhook deliveries in flight at once.
    #[arg(long, env = "KASIR_WEBHOOK_CONCURRENCY", default_value_t = 64)]
    webhook_concurrency: usize,
    /// A request's head must arrive within this long of its first byte, e.g. 30s.
    #[arg(long, env = "KASIR_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// A connection that moves nothing for this long while no request is answered is closed, e.g. 60s.
    #[arg(long, env = "KASIR_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Connections served at once; past it, new ones are answered 503 and closed.
    #[arg(long, env = "KASIR_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Requests a second each API key may make (with a burst of as many), e.g. 100/s; off by default.
    #[arg(long, env = "KASIR_RATE_LIMIT", value_parser = parse_rate)]
    rate_limit: Option<u32>,
    /// A proxy (CIDR) whose X-Forwarded-For names the client, for the per-address limit of failed
    /// authentications; repeat for several.
    #[arg(long = "trusted-proxy", env = "KASIR_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// OVO's Push to Pay URL, for live keys (e.g. https://apigw.ovo.id/pos); with the other --ovo-*
    /// settings and the app key (KASIR_OVO_APP_KEY or --ovo-app-key-file). docs/ovo.md.
    #[arg(long, env = "KASIR_OVO_URL")]
    ovo_url: Option<String>,
    /// The `app-id` OVO gave the merchant.
    #[arg(long, env = "KASIR_OVO_APP_ID")]
    ovo_app_id: Option<String>,
    /// A file holding OVO's app key (else KASIR_OVO_APP_KEY): never a flag, which `ps` would show.
    #[arg(long, env = "KASIR_OVO_APP_KEY_FILE")]
    ovo_app_key_file: Option<std::path::PathBuf>,
    /// The terminal id (`tid`) OVO gave the merchant.
    #[arg(long, env = "KASIR_OVO_TID")]
    ovo_tid: Option<String>,
    /// The merchant id (`mid`) OVO gave the merchant.
    #[arg(long, env = "KASIR_OVO_MID")]
    ovo_mid: Option<String>,
    /// OVO's `merchantId`.
    #[arg(long, env = "KASIR_OVO_MERCHANT_ID")]
    ovo_merchant_id: Option<String>,
    /// OVO's `storeCode`.
    #[arg(long, env = "KASIR_OVO_STORE_CODE")]
    ovo_store_code: Option<String>,
    /// How long one push call to OVO may take (OVO holds it until the customer answers).
    #[arg(long, env = "KASIR_OVO_TIMEOUT", default_value = "70s", value_parser = parse_duration)]
    ovo_timeout: Duration,
    /// How often an unanswered push's status is asked, until its approval window closes.
    #[arg(long, env = "KASIR_OVO_STATUS_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    ovo_status_interval: Duration,
    /// Serve the API only: run no timers or webhook deliveries in this process (others on the same
    /// PostgreSQL do, or a later start does).
    #[arg(long, env = "KASIR_NO_WORKERS")]
    no_workers: bool,
}

/// Parses `500ms`, `70s`, `5m`, `1h`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: expected a duration such as 500ms, 70s or 5m"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("{s:?}: unknown unit {other:?}; use ms, s, m or h")),
    };
    Ok(d)
}

/// An absolute http(s) URL with no query or fragment, without its trailing `/`.
fn parse_public_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?}: {e}; expected e.g. https://pay.example.com"))?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(format!("{s:?}: expected an http or https URL with no query, e.g. https://pay.example.com"));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// Parses `100/s` (or a bare `100`): requests a second.
fn parse_rate(s: &str) -> Result<u32, String> {
    let n = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match n.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?}: expected a rate such as 100/s")),
    }
}

/// How every command opens the store (set once from the global flags).
static STORE_OPTIONS: std::sync::OnceLock<StoreOptions> = std::sync::OnceLock::new();

/// `owner`: this process serves the database (see [`StoreOptions::owner`]).
fn store_options(owner: bool) -> StoreOptions {
    StoreOptions { owner, ..STORE_OPTIONS.get().cloned().unwrap_or_default() }
}

fn open_store(url: &str) -> Result<Store, String> {
    kasir::open_store(url, &store_options(false))
}

pub(crate) fn print_pair(pair: &KeyPair, heading: &str) {
    use std::io::Write as _;
    // Written with errors ignored: a closed stdout must not stop `serve`.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{heading}\n  mode:        {}\n  access key:  {}\n  secret key:  {}\n  The secret is shown only now; Kasir keeps only its hash.",
        pair.mode.as_str(),
        pair.access_key,
        pair.secret_key
    );
    let _ = out.flush();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = STORE_OPTIONS.set(StoreOptions { pg_pool_size: cli.pg_pool_size, owner: false });
    match kasir::logging::LogFormat::from_env() {
        Ok(format) => kasir::logging::init(format),
        Err(e) => {
            eprintln!("kasir: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let result = run(cli.command, &cli.database);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kasir: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command, database: &str) -> Result<(), String> {
    let command = match command {
        Command::Serve(args) => return serve(database, *args),
        Command::OvoSim(args) => return ovo_sim(args),
        Command::Listen(args) => return listen::listen(args),
        Command::Trigger(args) => return trigger::trigger(args),
        Command::Export(args) => return export::export(args),
        Command::Payin { common, cmd } => return api_commands::run(common, api_commands::Call::Payin(cmd)),
        Command::Refund { common, cmd } => return api_commands::run(common, api_commands::Call::Refund(cmd)),
        Command::Checkout { common, cmd } => return api_commands::run(common, api_commands::Call::Checkout(cmd)),
        Command::Event { common, cmd } => return api_commands::run(common, api_commands::Call::Event(cmd)),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            use std::io::Write as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kasir", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = std::io::stdout().write_all(&script);
            return Ok(());
        }
        other => other,
    };
    let store = open_store(database)?;
    match command {
        Command::Serve(_)
        | Command::OvoSim(_)
        | Command::Listen(_)
        | Command::Trigger(_)
        | Command::Export(_)
        | Command::Completions { .. }
        | Command::Payin { .. }
        | Command::Refund { .. }
        | Command::Checkout { .. }
        | Command::Event { .. } => {
            unreachable!("run above")
        }
        Command::Migrate => {
            println!("{} is migrated", store.describe());
            Ok(())
        }
        Command::Backup { path } => commands::backup(&store, &path),
        Command::Accounts(c) => commands::accounts(&store, c),
        Command::Keys(k) => commands::keys(&store, k),
        Command::WebhookSecret(c) => commands::webhook_secret(&store, c),
        Command::EventTypes(c) => commands::events(&store, c),
        Command::Events(c) => {
            eprintln!("note: `kasir events` is now `kasir event-types`");
            commands::events(&store, c)
        }
        Command::Refunds(c) => commands::refunds(&store, c),
        Command::Users(c) => commands::users(&store, c),
    }
}

fn serve(database: &str, args: ServeArgs) -> Result<(), String> {
    if args.ovo_min_amount <= 0 || args.ovo_min_amount > args.ovo_max_amount {
        return Err("--ovo-min-amount must be positive and not above --ovo-max-amount".into());
    }
    let ovo = AmountLimits { min: args.ovo_min_amount, max: args.ovo_max_amount };
    let app_key = match &args.ovo_app_key_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| format!("--ovo-app-key-file {}: {e}", path.display()))?)
        }
        None => std::env::var("KASIR_OVO_APP_KEY").ok(),
    };
    let ovo_connection = kasir::OvoSettings {
        url: args.ovo_url,
        app_id: args.ovo_app_id,
        app_key,
        tid: args.ovo_tid,
        mid: args.ovo_mid,
        merchant_id: args.ovo_merchant_id,
        store_code: args.ovo_store_code,
        timeout: args.ovo_timeout,
        status_interval: args.ovo_status_interval,
    }
    .config()?;
    let config = Config {
        store: store_options(true),
        listen: args.listen,
        rules: PayinRules {
            limits: MethodLimits::default().with(PaymentMethodType::OvoIdr, ovo),
            approval_window: args.approval_window,
            checkout_lifetime: args.checkout_lifetime,
        },
        public_url: args.public_url,
        sandbox_delay: args.sandbox_delay,
        worker: WorkerConfig {
            webhook_timeout: args.webhook_timeout,
            webhook_concurrency: args.webhook_concurrency,
            ..WorkerConfig::default()
        },
        server: ServerConfig {
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections,
        },
        limits: LimitConfig { per_key: args.rate_limit, trusted_proxies: args.trusted_proxies },
        workers: !args.no_workers,
        ovo: ovo_connection,
        ..Config::new(database)
    };
    if let Some(limit) = kasir::raise_open_files_limit() {
        if (limit as usize) < args.max_connections + 64 {
            tracing::warn!(limit, "the open-files limit is below --max-connections; raise it (ulimit -Hn)");
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal();
        let application = Application::build(config).await?;
        if let Some(pair) = application.bootstrap().await? {
            print_pair(&pair, "First start: created the default account and a test key pair.");
        }
        tracing::info!(
            "kasir listening on http://{} with database {}",
            application.addr(),
            application.app().store.describe()
        );
        application.run(shutdown).await?;
        tracing::info!("kasir stopped");
        Ok(())
    })
}

/// Serves the OVO simulator until Ctrl-C or SIGTERM.
fn ovo_sim(args: OvoSimArgs) -> Result<(), String> {
    // Each push the simulator holds is an open connection: thousands, in a rehearsal at scale.
    kasir::raise_open_files_limit();
    let app_key = match &args.app_key_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("--app-key-file {}: {e}", path.display()))?,
        None => std::env::var("KASIR_OVO_APP_KEY")
            .map_err(|_| "the app key is missing: set KASIR_OVO_APP_KEY or pass --app-key-file PATH".to_string())?,
    };
    let app_key = app_key.trim().to_string();
    if app_key.is_empty() || args.app_id.trim().is_empty() {
        return Err("the app id and the app key must not be empty".into());
    }
    let sim = kasir_ovo_sim::Sim::new(kasir_ovo_sim::Config {
        app_id: args.app_id.trim().to_string(),
        app_key,
        timeout: args.timeout,
        clock: std::sync::Arc::new(kasir_domain::SystemClock),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("{}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("ovo-sim listening on http://{addr}: push to 08… numbers as docs/ovo.md tabulates");
        axum::serve(listener, sim.router()).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string())
    })
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when it is first
/// polled, so a signal that arrives while the server is still starting is not lost (nor fatal).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("70s").unwrap(), Duration::from_secs(70));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
