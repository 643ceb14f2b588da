//! The API from the command line: `kasir payin|refund|checkout|event …` against a running Kasir (the
//! connection `listen` uses). Each prints a readable summary, or with `--json` the object exactly as the
//! API answers it; an error prints Tazapay's code and message and exits non-zero.

use clap::Subcommand;
use kasir_client::{seg, CustomerDetails, ListParams, NewCheckout, NewPayin, NewRefund, Phone};
use serde_json::{json, Value};

use crate::remote::Connection;

/// Every API command's shared options.
#[derive(clap::Args, Debug)]
pub struct Common {
    #[command(flatten)]
    pub connection: Connection,
    /// Print the API's JSON instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum PayinCommand {
    /// Create a payin (amounts in minor units, as the API: IDR 77,000.00 is 7700000).
    Create {
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value = "IDR")]
        currency: String,
        #[arg(long)]
        description: String,
        #[arg(long)]
        reference_id: Option<String>,
        #[arg(long)]
        webhook_url: Option<String>,
        /// Confirm it at once with this OVO number (`0812…`): the push is sent.
        #[arg(long)]
        phone: Option<String>,
    },
    Get {
        id: String,
    },
    /// The newest payins.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    Cancel {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RefundCommand {
    /// Refund a payin in full.
    Create {
        #[arg(long)]
        payin: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Get {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CheckoutCommand {
    /// Create a hosted checkout (amount in minor units); prints its page's URL.
    Create {
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value = "IDR")]
        currency: String,
        #[arg(long)]
        description: String,
        #[arg(long)]
        success_url: String,
        #[arg(long)]
        cancel_url: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "ID")]
        country: String,
    },
    Get {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventCommand {
    /// The newest events.
    List {
        /// Only events about this object.
        #[arg(long)]
        object: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    Get {
        id: String,
    },
    /// Send an event's webhook again.
    Resend {
        id: String,
    },
}

/// One of the API commands.
#[derive(Debug)]
pub enum Call {
    Payin(PayinCommand),
    Refund(RefundCommand),
    Checkout(CheckoutCommand),
    Event(EventCommand),
}

/// A request type of the SDK as the JSON body it sends.
fn body<T: serde::Serialize>(request: &T) -> Option<Value> {
    serde_json::to_value(request).ok()
}

/// A list's query: its filters, and the page size.
fn query(filters: &[(&str, &Option<String>)], limit: u32) -> String {
    let params = ListParams { limit: Some(limit), ..ListParams::default() };
    filters
        .iter()
        .fold(params, |p, (k, v)| match v {
            Some(v) => p.filter(k, v),
            None => p,
        })
        .query()
}

/// What the command asks of the API: method, path, body.
fn request(call: &Call) -> (&'static str, String, Option<Value>) {
    match call {
        Call::Payin(PayinCommand::Create { amount, currency, description, reference_id, webhook_url, phone }) => {
            let mut new = NewPayin::new(currency, *amount, description);
            new.reference_id = reference_id.clone();
            new.webhook_url = webhook_url.clone();
            if let Some(p) = phone {
                new = new.confirm_with(Phone::indonesian(p));
            }
            ("POST", "/v3/payin".into(), body(&new))
        }
        Call::Payin(PayinCommand::Get { id }) => ("GET", format!("/v3/payin/{}", seg(id)), None),
        Call::Payin(PayinCommand::List { status, limit }) => {
            ("GET", format!("/v3/payin?{}", query(&[("status", status)], *limit)), None)
        }
        Call::Payin(PayinCommand::Cancel { id }) => ("POST", format!("/v3/payin/{}/cancel", seg(id)), Some(json!({}))),
        Call::Refund(RefundCommand::Create { payin, reason }) => {
            let new = NewRefund { payin: payin.clone(), reason: reason.clone(), ..NewRefund::default() };
            ("POST", "/v3/refund".into(), body(&new))
        }
        Call::Refund(RefundCommand::Get { id }) => ("GET", format!("/v3/refund/{}", seg(id)), None),
        Call::Checkout(CheckoutCommand::Create {
            amount,
            currency,
            description,
            success_url,
            cancel_url,
            name,
            email,
            country,
        }) => {
            let customer = CustomerDetails::new(name, email, country);
            let new = NewCheckout::new(currency, *amount, description, customer, success_url, cancel_url);
            ("POST", "/v3/checkout".into(), body(&new))
        }
        Call::Checkout(CheckoutCommand::Get { id }) => ("GET", format!("/v3/checkout/{}", seg(id)), None),
        Call::Event(EventCommand::List { object, kind, limit }) => {
            ("GET", format!("/v3/event?{}", query(&[("object_id", object), ("type", kind)], *limit)), None)
        }
        Call::Event(EventCommand::Get { id }) => ("GET", format!("/v3/event/{}", seg(id)), None),
        Call::Event(EventCommand::Resend { id }) => ("POST", format!("/v3/event/{}/resend", seg(id)), Some(json!({}))),
    }
}

/// An amount in minor units as Indonesians write it: `Rp 77.000`.
fn amount(v: &Value, minor: &str, currency: &str) -> String {
    match (v[minor].as_i64(), v[currency].as_str()) {
        (Some(m), Some("IDR")) => kasir_domain::Currency::Idr.display(m),
        (Some(m), Some(c)) => format!("{c} {m}"),
        _ => String::new(),
    }
}

/// One object's line.
fn summary(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    match v["object"].as_str() {
        Some("payin") => format!(
            "{}  {:<24} {:>14}  reference_id={}  created {}",
            s("id"),
            s("status"),
            amount(v, "amount", "invoice_currency"),
            s("reference_id"),
            s("created_at")
        ),
        Some("refund") => format!(
            "{}  {:<10} {:>14}  payin {}  {}",
            s("id"),
            s("status"),
            amount(v, "amount", "currency"),
            s("payin"),
            s("status_description")
        ),
        Some("checkout") => format!(
            "{}  {:<8} {:>14}  payin {}  {}",
            s("id"),
            s("status"),
            amount(v, "amount", "invoice_currency"),
            s("payin"),
            s("url")
        ),
        Some("event") => {
            format!("{}  {:<32} {}  {}", s("id"), s("type"), v["data"]["id"].as_str().unwrap_or(""), s("created_at"))
        }
        _ => v.to_string(),
    }
}

pub fn run(common: Common, call: Call) -> Result<(), String> {
    let key = common.connection.key()?;
    let kasir = key.client(&common.connection.base());
    let (method, path, body) = request(&call);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let data: Value =
        runtime.block_on(kasir.request(method, &path, body.as_ref(), None)).map_err(|e| format!("{path}: {e}"))?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&data).map_err(|e| e.to_string())?);
        return Ok(());
    }
    match data["data"].as_array() {
        Some(items) if data["object"] == "list" || data.get("has_more").is_some() => {
            for item in items {
                println!("{}", summary(item));
            }
            if data["has_more"] == true {
                println!("… more: --limit up to 100");
            }
        }
        _ => println!("{}", summary(&data)),
    }
    Ok(())
}
