//! Databases for the benchmark: many payins written straight through the store, and PostgreSQL
//! databases made for one run.

use kasir_domain::{Amount, Currency, Mode, NewPayin, PayinRules, SystemClock};
use kasir_store::ops::{self, CreatePayin, Ctx};
use kasir_store::{keys, Scope, Store, StoreError};

/// Writes `n` payins (as the API would create them) into the database at `url`, in large transactions.
pub fn payins(url: &str, n: usize) -> Result<(), String> {
    let store = Store::open(url).map_err(|e| e.to_string())?;
    let now = kasir_domain::Clock::now(&SystemClock);
    let account =
        store.write_blocking(move |tx| keys::default_account(tx, now)).map_err(|e: StoreError| e.to_string())?;
    let scope = Scope { account_id: account, mode: Mode::Test };
    let batch = 5000;
    let mut done = 0;
    while done < n {
        let k = batch.min(n - done);
        let scope = scope.clone();
        store
            .write_blocking(move |tx| {
                let ctx = Ctx { scope: scope.clone(), now, rules: PayinRules::default() };
                for _ in 0..k {
                    let req = CreatePayin {
                        amount: Amount::new(5_000_000).expect("amount"),
                        currency: Currency::Idr,
                        new: NewPayin { transaction_description: "1 X Good".into(), details: Default::default() },
                        customer_id: None,
                        confirm: None,
                    };
                    ops::create_payin(tx, &ctx, req)?;
                }
                Ok::<_, ops::OpError>(())
            })
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
