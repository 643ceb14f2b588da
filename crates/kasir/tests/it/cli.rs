//! The `kasir` binary as an operator uses it.

use std::io::{BufRead, BufReader};
use std::process::Command;

use crate::helpers::{SEED_ACCESS_KEY, SEED_AUTHORIZATION, SEED_SECRET_KEY};
use crate::serve::{kasir, sigterm, start, text};

backend_tests! {
async fn keys_commands_register_list_and_refuse_duplicates() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();

    let m = kasir(&db, &["migrate"]);
    assert!(m.status.success(), "{}", text(&m));
    assert!(text(&m).contains("is migrated"), "{}", text(&m));

    let empty = kasir(&db, &["keys", "list"]);
    assert!(text(&empty).contains("No keys yet"));

    let add = kasir(&db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(add.status.success(), "{}", text(&add));
    let dup = kasir(&db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(!dup.status.success());
    assert!(text(&dup).contains("already registered"), "{}", text(&dup));
    let bad = kasir(&db, &["keys", "add", "--access-key", "ak_test_short", "--secret-key", SEED_SECRET_KEY]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("access key must be"), "{}", text(&bad));

    let created = kasir(&db, &["keys", "create", "--mode", "live"]);
    assert!(created.status.success());
    let out = String::from_utf8_lossy(&created.stdout).to_string();
    assert!(out.contains("ak_live_") && out.contains("sk_live_"), "{out}");

    // The flag works as well as the environment variable, for every command.
    let list = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["--database", &db, "keys", "list"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let listed = text(&list);
    assert!(listed.contains(SEED_ACCESS_KEY) && listed.contains("ak_live_"), "{listed}");
    assert!(!listed.contains("sk_"), "secrets are never listed: {listed}");
}
}

backend_tests! {
async fn serve_bootstraps_once_logs_where_it_listens_serves_the_seed_and_stops_on_sigterm() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();

    let start = |expect_keys: bool| {
        let mut served = start(&db, &[], true);
        let line = &served.log_line;
        assert!(line.contains("listening on http://127.0.0.1:"), "{line}");
        assert!(line.contains(&format!("database {db}")), "{line}");
        let mut out = String::new();
        if expect_keys {
            let mut so = BufReader::new(served.child.stdout.take().unwrap());
            for _ in 0..4 {
                so.read_line(&mut out).unwrap();
            }
            assert!(out.contains("access key:  ak_test_"), "{out}");
        }
        (served.child, served.addr, out)
    };

    let (first, addr, out) = start(true);
    let ak = out.lines().find(|l| l.contains("access key")).unwrap().split_whitespace().last().unwrap().to_string();
    let sk = out.lines().find(|l| l.contains("secret key")).unwrap().split_whitespace().last().unwrap().to_string();
    let ok = curl_status(&addr, &crate::helpers::basic(&ak, &sk)).await;
    assert_eq!(ok, "200");
    sigterm(first).await;

    // The operator registers the seed's keys; the seed's header then works verbatim.
    let add = kasir(&db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(add.status.success(), "{}", text(&add));
    let (second, addr, _) = start(false);
    assert_eq!(curl_status(&addr, SEED_AUTHORIZATION).await, "200");
    let out = sigterm(second).await;
    assert!(!out.contains("First start"), "keys are created only once: {out}");
}
}

/// POSTs the seed's step 1 with `auth` and returns the HTTP status.
async fn curl_status(addr: &str, auth: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/v3/payin"))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(r#"{"invoice_currency":"IDR","amount":10000000,"transaction_description":"1 X Good"}"#)
        .send()
        .await
        .unwrap();
    res.status().as_u16().to_string()
}

backend_tests! {
async fn webhook_secret_show_and_rotate() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();
    let show = kasir(&db, &["webhook-secret", "show"]);
    assert!(show.status.success(), "{}", text(&show));
    let first = String::from_utf8_lossy(&show.stdout).trim().to_string();
    assert!(first.starts_with("whsec_") && first.len() > 40, "{first}");
    let again = kasir(&db, &["webhook-secret", "show"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), first, "show does not change the secret");
    let rotate = kasir(&db, &["webhook-secret", "rotate"]);
    assert!(rotate.status.success());
    let second = String::from_utf8_lossy(&rotate.stdout).trim().to_string();
    assert!(second.starts_with("whsec_") && second != first);
    assert!(text(&rotate).contains("24 hours"));
    assert_eq!(String::from_utf8_lossy(&kasir(&db, &["webhook-secret", "show"]).stdout).trim(), second);
}
}

backend_tests! {
async fn event_types_are_listed_and_switched() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();
    let old_name = kasir(&db, &["events", "list"]);
    assert!(text(&old_name).contains("`kasir events` is now `kasir event-types`"), "the old name still works, and says so");
    let list = text(&kasir(&db, &["event-types", "list"]));
    assert!(list.lines().any(|l| l.starts_with("payin.created") && l.ends_with("off")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("payin.succeeded") && l.ends_with("on")), "{list}");
    assert!(kasir(&db, &["events", "enable", "payin.created"]).status.success());
    assert!(kasir(&db, &["events", "disable", "payin.succeeded"]).status.success());
    let list = text(&kasir(&db, &["events", "list"]));
    assert!(list.lines().any(|l| l.starts_with("payin.created") && l.ends_with("on")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("payin.succeeded") && l.ends_with("off")), "{list}");
    let bad = kasir(&db, &["events", "enable", "payin.exploded"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("unknown event type"));
}
}

backend_tests! {
async fn accounts_have_names_and_their_own_keys_secrets_and_event_settings() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();
    let out = |args: &[&str]| {
        let o = kasir(&db, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // The default account is made on first use and listed first.
    let default_secret = out(&["webhook-secret", "show"]);
    let kopi = out(&["accounts", "create", "--name", "  Toko Kopi  "]);
    assert!(kopi.starts_with("acc_") && kopi.len() == 24, "{kopi}");
    let list = out(&["accounts", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].ends_with("(default)") && lines[1].starts_with(&kopi), "{list}");
    assert!(lines[1].contains("\"Toko Kopi\""), "the name is trimmed: {list}");

    // Keys, secrets and event settings are the account's own.
    let created = out(&["keys", "create", "--account", &kopi]);
    let access = created.lines().find_map(|l| l.trim().strip_prefix("access key:")).unwrap().trim().to_string();
    let keys = out(&["keys", "list"]);
    assert!(keys.lines().any(|l| l.starts_with(&access) && l.contains(&kopi)), "{keys}");
    let kopi_secret = out(&["webhook-secret", "show", "--account", &kopi]);
    assert!(kopi_secret.starts_with("whsec_") && kopi_secret != default_secret);
    assert_eq!(out(&["webhook-secret", "show"]), default_secret, "the default account's is unchanged");
    out(&["events", "enable", "payin.created", "--account", &kopi]);
    let on = |l: &str| l.starts_with("payin.created") && l.ends_with("on");
    assert!(out(&["events", "list", "--account", &kopi]).lines().any(on));
    assert!(!out(&["events", "list"]).lines().any(on), "the default account's settings are its own");

    out(&["accounts", "rename", &kopi, "--name", "Kopi Kenangan"]);
    assert!(out(&["accounts", "list"]).contains("\"Kopi Kenangan\""));
    for (args, why) in [
        (vec!["accounts", "rename", "acc_nosuchaccount00000", "--name", "x"], "no account"),
        (vec!["accounts", "create", "--name", "   "], "1 to 100 characters"),
        (vec!["keys", "create", "--account", "acc_nosuchaccount00000"], "no account"),
        (vec!["events", "list", "--account", "acc_nosuchaccount00000"], "no account"),
    ] {
        let o = kasir(&db, &args);
        assert!(!o.status.success() && text(&o).contains(why), "{args:?}: {}", text(&o));
    }
}
}

/// One process serves a SQLite file: a second `serve` on it stops at once and says why, while the
/// other commands still work beside the server; once the server stops, the file can be served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kasir.db").display());
    let add = kasir(&db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(add.status.success(), "{}", text(&add));
    let (mut first, addr) = crate::serve::spawn_serve(&db, &[]);
    assert_eq!(curl_status(&addr, SEED_AUTHORIZATION).await, "200");

    let second = kasir(&db, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!second.status.success());
    let said = text(&second);
    assert!(said.contains("another kasir process serves") && said.contains("PostgreSQL"), "{said}");
    // The same file reached another way (a symlink) is the same file.
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(dir.path().join("kasir.db"), &link).unwrap();
    let linked = kasir(&format!("sqlite://{}", link.display()), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!linked.status.success() && text(&linked).contains("another kasir process serves"), "{}", text(&linked));
    let list = kasir(&db, &["keys", "list"]);
    assert!(list.status.success() && text(&list).contains(SEED_ACCESS_KEY), "{}", text(&list));
    assert_eq!(curl_status(&addr, SEED_AUTHORIZATION).await, "200", "the first server is undisturbed");

    // SIGKILL: the lock goes with the process, so a crash never leaves the file unservable.
    first.kill().unwrap();
    first.wait().unwrap();
    let (third, addr) = crate::serve::spawn_serve(&db, &[]);
    assert_eq!(curl_status(&addr, SEED_AUTHORIZATION).await, "200");
    sigterm(third).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    let fresh = crate::helpers::fresh_database();
    // Started with a low soft limit, as many systems start services.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" serve --listen 127.0.0.1:0 --database \"$1\"",
            env!("CARGO_BIN_EXE_kasir"),
            &fresh.url,
        ])
        .env("KASIR_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "Max open files  <soft>  <hard>  files"
    assert_ne!(fields[3], "256", "the soft limit was raised: {line}");
    assert_eq!(fields[3], fields[4], "to the hard limit: {line}");
    sigterm(child).await;
}

backend_tests! {
async fn backup_copies_a_live_sqlite_database_and_points_postgres_to_pg_dump() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    if crate::helpers::backend() == crate::helpers::Backend::Postgres {
        kasir(&db, &["migrate"]);
        let out = kasir(&db, &["backup", copy.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("pg_dump"), "{}", text(&out));
        assert!(!copy.exists());
        return;
    }
    let add = kasir(&db, &["keys", "add", "--access-key", SEED_ACCESS_KEY, "--secret-key", SEED_SECRET_KEY]);
    assert!(add.status.success(), "{}", text(&add));
    let served = start(&db, &[], false);
    let http = reqwest::Client::new();
    let create = |http: reqwest::Client, addr: String| async move {
        let res = http
            .post(format!("http://{addr}/v3/payin"))
            .header("authorization", SEED_AUTHORIZATION)
            .header("content-type", "application/json")
            .body(r#"{"invoice_currency":"IDR","amount":5000000,"transaction_description":"1 X Good"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<serde_json::Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_string()
    };
    let mut before = Vec::new();
    for _ in 0..50 {
        before.push(create(http.clone(), served.addr.clone()).await);
    }
    // Writes go on while the copy is made.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn({
        let (http, addr) = (http.clone(), served.addr.clone());
        async move {
            let mut n = 0;
            while !*stopped.borrow_and_update() {
                create(http.clone(), addr.clone()).await;
                n += 1;
            }
            n
        }
    });
    let (db2, path) = (db.clone(), copy.to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || kasir(&db2, &["backup", &path])).await.unwrap();
    let _ = stop.send(true);
    let during = writer.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(100%)"), "progress is shown: {}", text(&out));
    assert!(!dir.path().join("copy.db.partial").exists());
    sigterm(served.child).await;

    // The copy serves: everything written before the backup is in it.
    let restored = start(&format!("sqlite://{}", copy.display()), &[], false);
    for id in &before {
        let res = http
            .get(format!("http://{}/v3/payin/{id}", restored.addr))
            .header("authorization", SEED_AUTHORIZATION)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{id} is in the copy");
    }
    println!("backup: {} payins written while the copy was made", during);
    sigterm(restored.child).await;
    assert!(!kasir(&db, &["backup", copy.to_str().unwrap()]).status.success(), "an existing file is not overwritten");
}
}

/// `kasir ovo-sim`: the simulator as an operator starts it, answering a signed push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovo_sim_serves_ovos_protocol_and_wants_its_key_outside_the_command_line() {
    use kasir_app::wallet::ovo::{self, Message, Reference, Request, Terminal, Transaction};
    let missing = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["ovo-sim", "--listen", "127.0.0.1:0", "--app-id", "toko"])
        .env_remove("KASIR_OVO_APP_KEY")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(text(&missing).contains("KASIR_OVO_APP_KEY"), "{}", text(&missing));

    let mut child = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(["ovo-sim", "--listen", "127.0.0.1:0", "--app-id", "toko", "--timeout", "1s"])
        .env("KASIR_OVO_APP_KEY", "k3y")
        .env("KASIR_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    // "… listening on http://127.0.0.1:PORT: …"
    let addr = line.split("http://").nth(1).and_then(|r| r.split(": ").next()).expect("where it listens").to_string();
    let tx = Transaction {
        reference: Reference::FIRST,
        amount: 150_000,
        phone: kasir_domain::Phone { calling_code: "62".into(), number: "81234567890".into() },
        merchant_invoice: "order-1".into(),
    };
    let terminal = Terminal { tid: "T".into(), mid: "M".into(), merchant_id: "1".into(), store_code: "S".into() };
    let req = Request::new(Message::Push, &terminal, &tx, kasir_domain::Clock::now(&kasir_domain::SystemClock));
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/pos"))
        .header("app-id", "toko")
        .header("random", "1")
        .header("hmac", ovo::signature("toko", "1", "k3y"))
        .json(&req)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["responseCode"], "00", "{v}");
    let out = sigterm(child).await;
    assert!(out.is_empty());
}

/// Runs `kasir` with `input` on its standard input.
fn kasir_with_input(db: &str, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kasir"))
        .args(args)
        .env("DATABASE_URL", db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

backend_tests! {
async fn dashboard_users_are_made_listed_disabled_unlocked_and_reset_with_argon2id_passwords() {
    let fresh = crate::helpers::fresh_database();
    let db = fresh.url.clone();
    assert!(kasir(&db, &["migrate"]).status.success());
    assert!(text(&kasir(&db, &["users", "list"])).contains("No dashboard users yet"));

    let siti = kasir_with_input(&db, &["users", "create", "--email", "Siti@Toko.id", "--role", "owner", "--password-stdin"], "correct horse battery\n");
    assert!(siti.status.success(), "{}", text(&siti));
    assert!(text(&siti).contains("usr_") && text(&siti).contains("siti@toko.id  owner"), "{}", text(&siti));
    assert!(!text(&siti).contains("one-time password"));

    let again = kasir_with_input(&db, &["users", "create", "--email", "SITI@toko.id", "--role", "support", "--password-stdin"], "another long password\n");
    assert!(!again.status.success() && text(&again).contains("siti@toko.id already has a dashboard user"), "{}", text(&again));
    let short = kasir_with_input(&db, &["users", "create", "--email", "budi@toko.id", "--role", "support", "--password-stdin"], "short pass\n");
    assert!(!short.status.success() && text(&short).contains("at least 12 characters"), "{}", text(&short));
    let bad = kasir(&db, &["users", "create", "--email", "budi", "--role", "support"]);
    assert!(!bad.status.success() && text(&bad).contains("is not an email address"), "{}", text(&bad));

    let budi = kasir(&db, &["users", "create", "--email", "budi@toko.id", "--role", "support"]);
    assert!(budi.status.success(), "{}", text(&budi));
    let otp = text(&budi).lines().find_map(|l| l.strip_prefix("one-time password for budi@toko.id: ")).unwrap().trim().to_string();
    assert_eq!(otp.len(), 16);

    let list = text(&kasir(&db, &["users", "list"]));
    let line = |email: &str| list.lines().find(|l| l.contains(email)).unwrap_or_default().to_string();
    assert!(line("siti@toko.id").ends_with("active"), "{list}");
    assert!(line("budi@toko.id").contains("support") && line("budi@toko.id").ends_with("must change password"), "{list}");

    assert!(kasir(&db, &["users", "disable", "budi@toko.id"]).status.success());
    assert!(text(&kasir(&db, &["users", "list"])).lines().any(|l| l.contains("budi@toko.id") && l.contains("disabled")));
    assert!(kasir(&db, &["users", "unlock", "BUDI@toko.id"]).status.success());
    assert!(!text(&kasir(&db, &["users", "list"])).contains("disabled"));
    let reset = kasir_with_input(&db, &["users", "reset-password", "budi@toko.id", "--password-stdin"], "budi's own long password\n");
    assert!(reset.status.success(), "{}", text(&reset));
    let nobody = kasir(&db, &["users", "disable", "nobody@toko.id"]);
    assert!(!nobody.status.success() && text(&nobody).contains("no dashboard user has the email nobody@toko.id"));

    // Stored as argon2id hashes, and every change is in the account's audit log.
    let store = kasir::open_store(&db, &kasir_store::StoreOptions::default()).unwrap();
    let users = store.read(|tx| tx.users()).await.unwrap();
    assert_eq!(users.len(), 2);
    for (u, password) in users.iter().zip(["correct horse battery", "budi's own long password"]) {
        assert!(u.password_hash.starts_with("$argon2id$"), "{}", u.password_hash);
        assert!(kasir_app::users::verify_password(password, &u.password_hash), "{}", u.email);
        assert!(!u.password_hash.contains(password));
    }
    assert!(!users[1].must_change_password, "a password of one's own is not one-time");
    let account = users[0].account_id.clone();
    let log = store.read(move |tx| tx.audit_of(&account, 10)).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
    assert_eq!(actions, [
        ("user.password_reset", "cli"), ("user.unlocked", "cli"), ("user.disabled", "cli"),
        ("user.created", "cli"), ("user.created", "cli"),
    ]);
}
}

backend_tests! {
async fn a_revoked_key_is_refused_within_a_second_by_a_running_server() {
    let app = crate::helpers::TestApp::spawn().await;
    let db = app.database_url().to_string();
    // Warm: the key is checked and kept.
    for _ in 0..3 {
        assert_eq!(app.get("/v3/payin?limit=1").await.status, 200);
    }
    let revoke = kasir(&db, &["keys", "revoke", SEED_ACCESS_KEY]);
    assert!(revoke.status.success(), "{}", text(&revoke));
    let revoked_at = std::time::Instant::now();
    let refused = loop {
        let a = app.get("/v3/payin?limit=1").await;
        if a.status == 401 {
            break a;
        }
        assert!(revoked_at.elapsed() < std::time::Duration::from_millis(1500), "still served: {}", a.body);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    refused.assert_error(401, 111, "Authorization");
    assert!(refused.body["errors"][0]["message"].as_str().unwrap().contains("revoked"), "{}", refused.body);
    // The live key of the same account still works; the list says which is revoked; twice is refused.
    let live = app.send("GET", "/v3/payin?limit=1", Some(&app.live_auth), &[], None).await;
    assert_eq!(live.status, 200);
    let list = text(&kasir(&db, &["keys", "list"]));
    assert!(list.lines().any(|l| l.starts_with(SEED_ACCESS_KEY) && l.contains("REVOKED")), "{list}");
    let again = kasir(&db, &["keys", "revoke", SEED_ACCESS_KEY]);
    assert!(!again.status.success() && text(&again).contains("revoked already"), "{}", text(&again));
    // A wrong secret for the revoked key learns nothing of the revocation.
    let wrong = crate::helpers::basic(SEED_ACCESS_KEY, "sk_test_wrong");
    let w = app.send("GET", "/v3/payin?limit=1", Some(&wrong), &[], None).await;
    assert!(!w.body["errors"][0]["message"].as_str().unwrap_or_default().contains("revoked"), "{}", w.body);
}
}

backend_tests! {
async fn five_failed_sign_ins_in_fifteen_minutes_lock_a_user_for_fifteen_minutes() {
    use kasir_app::users::{self, LoginError, Role};
    use kasir_domain::Clock as _;
    let app = crate::helpers::TestApp::spawn().await;
    let account = app.account().await;
    let now = app.clock.now();
    let acc = account.clone();
    app.store
        .write(move |tx| users::create(tx, &acc, "siti@toko.id", Role::Support, Some("correct horse battery"), "cli", now))
        .await
        .unwrap();
    let try_as = |email: &'static str, password: &'static str, at: kasir_domain::Timestamp| {
        let store = app.store.clone();
        async move { store.write(move |tx| users::authenticate(tx, email, password, at)).await.unwrap() }
    };
    let t0 = app.clock.now();
    assert!(try_as("SITI@toko.id", "correct horse battery", t0).await.is_ok());
    assert_eq!(try_as("nobody@toko.id", "correct horse battery", t0).await, Err(LoginError::Wrong));
    // Four failures, then a success: the count starts again.
    for _ in 0..4 {
        assert_eq!(try_as("siti@toko.id", "wrong password!!", t0).await, Err(LoginError::Wrong));
    }
    assert!(try_as("siti@toko.id", "correct horse battery", t0).await.is_ok());
    // Five within fifteen minutes: locked, even with the right password, for fifteen minutes.
    let minute = std::time::Duration::from_secs(60);
    for i in 0..4 {
        assert_eq!(try_as("siti@toko.id", "wrong password!!", t0.plus(minute * i)).await, Err(LoginError::Wrong));
    }
    let fifth = t0.plus(minute * 14);
    let until = fifth.plus(minute * 15);
    assert_eq!(try_as("siti@toko.id", "wrong password!!", fifth).await, Err(LoginError::Locked(until)));
    assert_eq!(try_as("siti@toko.id", "correct horse battery", fifth.plus(minute * 14)).await, Err(LoginError::Locked(until)));
    assert!(try_as("siti@toko.id", "correct horse battery", until.plus(minute)).await.is_ok(), "the lock lapses");
    // Failures spread over more than fifteen minutes do not lock.
    for i in 0..6 {
        let at = until.plus(minute * (2 + 4 * i));
        assert_eq!(try_as("siti@toko.id", "wrong password!!", at).await, Err(LoginError::Wrong), "failure {i}");
    }
    // `kasir users unlock` lifts a lock; a disabled user is refused with the right password.
    let later = until.plus(minute * 60);
    for i in 0..5 {
        try_as("siti@toko.id", "wrong password!!", later.plus(std::time::Duration::from_secs(i))).await.unwrap_err();
    }
    assert!(matches!(try_as("siti@toko.id", "correct horse battery", later.plus(minute)).await, Err(LoginError::Locked(_))));
    let db = app.database_url().to_string();
    assert!(kasir(&db, &["users", "unlock", "siti@toko.id"]).status.success());
    assert!(try_as("siti@toko.id", "correct horse battery", later.plus(minute)).await.is_ok());
    assert!(kasir(&db, &["users", "disable", "siti@toko.id"]).status.success());
    assert_eq!(try_as("siti@toko.id", "correct horse battery", later.plus(minute)).await, Err(LoginError::Disabled));
    let log = app.store.read(move |tx| tx.audit_of(&account, 20)).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "user.locked" && e.actor == "siti@toko.id").count(), 2);
}
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_and_name_the_commands() {
    for (shell, marker) in [("bash", "complete -F _kasir"), ("zsh", "#compdef kasir"), ("fish", "complete -c kasir")] {
        let out = kasir("sqlite:///nonexistent/never-opened.db", &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        for command in ["serve", "listen", "trigger", "export", "users"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let bad = kasir("sqlite:///nonexistent/never-opened.db", &["completions", "powershell7"]);
    assert!(!bad.status.success());
}
