//! The commands that manage a database rather than serve it: accounts, keys, the webhook secret, event
//! types, backups. Each names its account with `--account acc_…`, or works on the default account.

use clap::{Subcommand, ValueEnum};
use kasir_app::accounts::{self, AccountError};
use kasir_app::keys::KeyPair;
use kasir_domain::{Clock, EventType, Mode, SystemClock};
use kasir_store::{Store, StoreError};

use crate::print_pair;

/// `--account`: which account a command acts on.
#[derive(clap::Args, Clone, Default)]
pub struct AccountArg {
    /// The account (`acc_…`); the default account when left out.
    #[arg(long)]
    account: Option<String>,
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create an account; its customers see NAME on the hosted pages.
    Create {
        #[arg(long)]
        name: String,
    },
    /// Every account, oldest (the default) first.
    List,
    /// Change the name an account's customers see.
    Rename {
        /// The account (`acc_…`).
        account: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new key pair and print it (the secret is shown only this once).
    Create {
        #[arg(long, value_enum, default_value_t = ModeArg::Test)]
        mode: ModeArg,
        #[command(flatten)]
        account: AccountArg,
    },
    /// Register a key pair you already have, e.g. the one your integration is configured with.
    Add {
        #[arg(long)]
        access_key: String,
        #[arg(long)]
        secret_key: String,
        #[command(flatten)]
        account: AccountArg,
    },
    /// List access keys (never secrets), with their accounts.
    List,
    /// Revoke a key: every running Kasir refuses it within a second.
    Revoke {
        /// The access key (`ak_test_…` or `ak_live_…`).
        access_key: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Test,
    Live,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Test => Mode::Test,
            ModeArg::Live => Mode::Live,
        }
    }
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Print the secret webhooks are signed with (`whsec_…`).
    Show {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Replace the secret; for 24 hours `webhook-signature` carries signatures by both.
    Rotate {
        #[command(flatten)]
        account: AccountArg,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Every event type and whether it is sent.
    List {
        #[command(flatten)]
        account: AccountArg,
    },
    /// Send webhooks of this type.
    Enable {
        event_type: String,
        #[command(flatten)]
        account: AccountArg,
    },
    /// Stop sending webhooks of this type (events are still recorded).
    Disable {
        event_type: String,
        #[command(flatten)]
        account: AccountArg,
    },
}

fn text(e: AccountError) -> String {
    e.to_string()
}

/// The account `arg` names (which must exist), or the default one.
fn chosen(store: &Store, arg: &AccountArg) -> Result<String, String> {
    let (id, now) = (arg.account.clone(), SystemClock.now());
    store.write_blocking(move |tx| accounts::chosen(tx, id.as_deref(), now)).map_err(text)
}

pub fn accounts(store: &Store, cmd: AccountsCommand) -> Result<(), String> {
    let now = SystemClock.now();
    match cmd {
        AccountsCommand::Create { name } => {
            let id = store.write_blocking(move |tx| accounts::create(tx, &name, now)).map_err(text)?;
            println!("{id}");
            eprintln!("Created {id}. Give it keys with `kasir keys create --account {id}`.");
        }
        AccountsCommand::List => {
            let all = store.write_blocking(|tx| tx.accounts()).map_err(|e: StoreError| e.to_string())?;
            if all.is_empty() {
                println!("No accounts yet: `kasir serve` creates the default one on first start.");
            }
            for (i, a) in all.iter().enumerate() {
                let default = if i == 0 { "  (default)" } else { "" };
                println!("{}  {:?}  created {}{default}", a.id, a.name, a.created_at);
            }
        }
        AccountsCommand::Rename { account, name } => {
            let id = account.clone();
            store.write_blocking(move |tx| accounts::rename(tx, &id, &name)).map_err(text)?;
            println!("Renamed {account}.");
        }
    }
    Ok(())
}

pub fn keys(store: &Store, cmd: KeysCommand) -> Result<(), String> {
    let now = SystemClock.now();
    match cmd {
        KeysCommand::Create { mode, account } => {
            let account = chosen(store, &account)?;
            let pair = KeyPair::generate(mode.into());
            let p = pair.clone();
            store
                .write_blocking(move |tx| accounts::add_key(tx, &p, &account, now))
                .map_err(|e: StoreError| e.to_string())?;
            print_pair(&pair, "Created a key pair:");
        }
        KeysCommand::Add { access_key, secret_key, account } => {
            let pair = KeyPair::parse(&access_key, &secret_key).map_err(|e| e.to_string())?;
            let account = chosen(store, &account)?;
            let p = pair.clone();
            store.write_blocking(move |tx| accounts::add_key(tx, &p, &account, now)).map_err(|e| match e {
                StoreError::Conflict(_) => format!("access key {access_key} is already registered"),
                other => other.to_string(),
            })?;
            println!("Registered {} ({} mode).", pair.access_key, pair.mode.as_str());
        }
        KeysCommand::List => {
            let keys = store.write_blocking(|tx| tx.keys()).map_err(|e: StoreError| e.to_string())?;
            if keys.is_empty() {
                println!("No keys yet: `kasir serve` creates a test pair on first start, or run `kasir keys create`.");
            }
            for k in keys {
                let revoked = k.revoked_at.map(|t| format!("  REVOKED {t}")).unwrap_or_default();
                println!("{}  {}  {}  created {}{revoked}", k.access_key, k.mode.as_str(), k.account_id, k.created_at);
            }
        }
        KeysCommand::Revoke { access_key } => {
            let now = SystemClock.now();
            let rec = store
                .write_blocking(move |tx| accounts::revoke_key(tx, access_key.trim(), "cli", now))
                .map_err(|e| e.to_string())?;
            println!("{} revoked; every running Kasir refuses it within a second", rec.access_key);
        }
    }
    Ok(())
}

pub fn webhook_secret(store: &Store, cmd: SecretCommand) -> Result<(), String> {
    let now = SystemClock.now();
    match cmd {
        SecretCommand::Show { account } => {
            let account = chosen(store, &account)?;
            let secrets = store
                .write_blocking(move |tx| accounts::signing_secrets(tx, &account, now))
                .map_err(|e: StoreError| e.to_string())?;
            println!("{}", secrets[0]);
        }
        SecretCommand::Rotate { account } => {
            let account = chosen(store, &account)?;
            let new = store
                .write_blocking(move |tx| accounts::rotate_secret(tx, &account, now))
                .map_err(|e: StoreError| e.to_string())?;
            println!("{new}");
            eprintln!(
                "The previous secret keeps signing beside this one for 24 hours (webhook-signature carries both)."
            );
        }
    }
    Ok(())
}

pub fn events(store: &Store, cmd: EventsCommand) -> Result<(), String> {
    let set = |kind: String, account: AccountArg, on: bool| -> Result<(), String> {
        let t = EventType::parse(&kind).ok_or_else(|| {
            let all: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown event type {kind:?}; one of: {}", all.join(", "))
        })?;
        let account = chosen(store, &account)?;
        store
            .write_blocking(move |tx| accounts::set_event_type(tx, &account, t, on))
            .map_err(|e: StoreError| e.to_string())?;
        println!("{} {}", t.as_str(), if on { "on" } else { "off" });
        Ok(())
    };
    match cmd {
        EventsCommand::Enable { event_type, account } => set(event_type, account, true),
        EventsCommand::Disable { event_type, account } => set(event_type, account, false),
        EventsCommand::List { account } => {
            let account = chosen(store, &account)?;
            let switches = store
                .write_blocking(move |tx| accounts::event_switches(tx, &account))
                .map_err(|e: StoreError| e.to_string())?;
            for t in EventType::ALL {
                println!("{:<32} {}", t.as_str(), if switches.is_on(t) { "on" } else { "off" });
            }
            Ok(())
        }
    }
}

pub fn backup(store: &Store, path: &std::path::Path) -> Result<(), String> {
    use std::io::Write as _;
    let mut last = 0u64;
    let mut progress = |done: u64, total: u64| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct != last || done == total {
            last = pct;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rbackup: {done}/{total} pages ({pct}%)");
            let _ = err.flush();
        }
    };
    match store.backup(path, &mut progress) {
        None => Err(format!(
            "{} is PostgreSQL: back it up with pg_dump (see docs/operations.md), e.g. pg_dump --format=custom --file=kasir.dump DBNAME",
            store.describe()
        )),
        Some(Err(e)) => Err(format!("backup failed: {e}")),
        Some(Ok(())) => {
            eprintln!();
            println!("{} copied to {}", store.describe(), path.display());
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum RefundsCommand {
    /// Refunds that wait for a manual transfer (live OVO after the void's day, or a refused void),
    /// oldest first.
    Manual,
    /// Record that a waiting refund's money was sent by hand: it succeeds, keeps the reference, and its
    /// webhook is sent.
    Complete {
        /// The refund (`rfd_…`).
        refund: String,
        /// The transfer's reference, as the bank or OVO gave it.
        #[arg(long)]
        reference: String,
    },
    /// Record that a waiting refund's money could not be sent: it fails, and its webhook is sent.
    Fail {
        /// The refund (`rfd_…`).
        refund: String,
        /// Why, in words kept on the refund.
        #[arg(long)]
        reason: String,
    },
}

pub fn refunds(store: &Store, cmd: RefundsCommand) -> Result<(), String> {
    use kasir_app::refunds as r;
    let app_error = |e: kasir_app::AppError| match e {
        kasir_app::AppError::Domain(d) => d.to_string(),
        kasir_app::AppError::Store(s) => s.to_string(),
    };
    let finish = |id: String, result: Result<String, String>| -> Result<(), String> {
        let now = SystemClock.now();
        let refund = store
            .write_blocking(move |tx| {
                let result = result.as_ref().map(String::as_str).map_err(String::as_str);
                r::finish_transfer(tx, &id, result, now)
            })
            .map_err(app_error)?;
        println!("{} {}: {}", refund.id, refund.status.as_str(), refund.status_description);
        Ok(())
    };
    match cmd {
        RefundsCommand::Manual => {
            let waiting = store.write_blocking(r::awaiting_transfer).map_err(|e: StoreError| e.to_string())?;
            if waiting.is_empty() {
                println!("no refund waits for a manual transfer");
            }
            for (scope, refund) in waiting {
                println!(
                    "{}  {}  {}  IDR {}  payin {}  created {}\n    {}",
                    refund.id,
                    scope.account_id,
                    scope.mode.as_str(),
                    refund.amount / 100,
                    refund.payin,
                    refund.created_at.to_rfc3339(),
                    refund.status_description
                );
            }
            Ok(())
        }
        RefundsCommand::Complete { refund, reference } => {
            if reference.trim().is_empty() {
                return Err("--reference must name the transfer".into());
            }
            finish(refund, Ok(reference.trim().to_string()))
        }
        RefundsCommand::Fail { refund, reason } => {
            if reason.trim().is_empty() {
                return Err("--reason must say why the transfer could not be made".into());
            }
            finish(refund, Err(reason.trim().to_string()))
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Developer,
    Support,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a dashboard user. Without --password-stdin a one-time password is printed, to be changed
    /// at the first sign-in.
    Create {
        #[arg(long)]
        email: String,
        /// support sees and refunds; developer also manages keys, webhooks and event types; owner also
        /// manages users and reads the audit log.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password (at least 12 characters) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        account: AccountArg,
    },
    /// Every dashboard user, oldest first.
    List,
    /// Stop a user signing in.
    Disable { email: String },
    /// Lift a lock-out after failed sign-ins (or a disable).
    Unlock { email: String },
    /// Set a new password: from standard input with --password-stdin, else a one-time one is printed.
    ResetPassword {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// The password on standard input: its first line, without the line ending.
fn password_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn users(store: &Store, cmd: UsersCommand) -> Result<(), String> {
    use kasir_app::users::{self as u, Role};
    let now = SystemClock.now();
    let show_one_time = |email: &str, one_time: Option<String>| {
        if let Some(p) = one_time {
            println!("one-time password for {email}: {p}");
            eprintln!("It is shown only now, and must be changed at the first sign-in.");
        }
    };
    match cmd {
        UsersCommand::Create { email, role, password_stdin, account } => {
            let role = match role {
                RoleArg::Owner => Role::Owner,
                RoleArg::Developer => Role::Developer,
                RoleArg::Support => Role::Support,
            };
            let password = password_stdin.then(password_from_stdin).transpose()?;
            let account = chosen(store, &account)?;
            let (user, one_time) = store
                .write_blocking(move |tx| u::create(tx, &account, &email, role, password.as_deref(), "cli", now))
                .map_err(|e| e.to_string())?;
            println!("{}  {}  {}  {}", user.id, user.email, user.role, user.account_id);
            show_one_time(&user.email, one_time);
        }
        UsersCommand::List => {
            let all = store.write_blocking(|tx| tx.users()).map_err(|e: StoreError| e.to_string())?;
            if all.is_empty() {
                println!("No dashboard users yet: `kasir users create --email … --role owner`.");
            }
            for user in all {
                let mut state = Vec::new();
                if user.disabled {
                    state.push("disabled");
                }
                if user.locked_until.is_some_and(|t| t > now) {
                    state.push("locked");
                }
                if user.must_change_password {
                    state.push("must change password");
                }
                println!(
                    "{:<28} {:<40} {:<9} {}  {}",
                    user.id,
                    user.email,
                    user.role,
                    user.account_id,
                    if state.is_empty() { "active".to_string() } else { state.join(", ") }
                );
            }
        }
        UsersCommand::Disable { email } => {
            let user = store.write_blocking(move |tx| u::disable(tx, &email, "cli", now)).map_err(|e| e.to_string())?;
            println!("{} disabled", user.email);
        }
        UsersCommand::Unlock { email } => {
            let user = store.write_blocking(move |tx| u::unlock(tx, &email, "cli", now)).map_err(|e| e.to_string())?;
            println!("{} may sign in", user.email);
        }
        UsersCommand::ResetPassword { email, password_stdin } => {
            let password = password_stdin.then(password_from_stdin).transpose()?;
            let (user, one_time) = store
                .write_blocking(move |tx| u::reset_password(tx, &email, password.as_deref(), "cli", now))
                .map_err(|e| e.to_string())?;
            println!("{}: password set", user.email);
            show_one_time(&user.email, one_time);
        }
    }
    Ok(())
}
