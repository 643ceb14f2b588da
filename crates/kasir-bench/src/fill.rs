//! Databases for the benchmark: many payins written through the application, and PostgreSQL
//! databases made for one run.

use kasir::{Application, Config};
use kasir_app::{accounts, payins, AppError};
use kasir_domain::{Amount, Currency, Mode, NewPayin};
use kasir_store::{Scope, StoreError, StoreOptions};

/// Writes `n` payins (as the API creates them) into the database at `url`, in large transactions,
/// through the application as `kasir serve` builds it (with no workers and no one served).
pub async fn payins(url: &str, n: usize) -> Result<(), String> {
    let config = Config {
        store: StoreOptions::default(),
        listen: "127.0.0.1:0".parse().expect("address"),
        workers: false,
        ..Config::new(url)
    };
    let application = Application::build(config).await?;
    let app = application.app();
    let now = app.clock.now();
    let account =
        app.store.write(move |tx| accounts::default_account(tx, now)).await.map_err(|e: StoreError| e.to_string())?;
    let scope = Scope { account_id: account, mode: Mode::Test };
    let batch = 5000;
    let mut done = 0;
    while done < n {
        let k = batch.min(n - done);
        app.write(scope.clone(), move |tx, ctx| {
            for _ in 0..k {
                let req = payins::CreatePayin {
                    amount: Amount::new(5_000_000).expect("amount"),
                    currency: Currency::Idr,
                    new: NewPayin { transaction_description: "1 X Good".into(), details: Default::default() },
                    customer_id: None,
                    confirm: None,
                };
                payins::create(tx, ctx, req)?;
            }
            Ok::<_, AppError>(())
        })
        .await
        .map_err(|e| e.to_string())?;
        done += k;
    }
    Ok(())
}

/// A PostgreSQL database created for one run and dropped after it.
pub struct PgDatabase {
    pub url: String,
    admin: String,
    name: String,
}

fn admin_exec(admin: &str, sql: &str) -> Result<(), String> {
    let (admin, sql) = (admin.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).map_err(|e| e.to_string())?;
        c.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "admin thread panicked".to_string())?
}

impl PgDatabase {
    pub fn create(admin: &str) -> Result<PgDatabase, String> {
        let name = format!("kasir_bench_{}", kasir_domain::id::xid());
        admin_exec(admin, &format!("CREATE DATABASE {name}"))?;
        let base = admin.split('?').next().unwrap_or(admin);
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let root = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        Ok(PgDatabase { url: format!("{root}/{name}"), admin: admin.to_string(), name })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = admin_exec(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}
