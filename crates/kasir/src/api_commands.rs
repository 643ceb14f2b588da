//! The API from the command line: `kasir payin|refund|checkout|event …` against a running Kasir (the
//! connection `listen` uses). Each prints a readable summary, or with `--json` the object exactly as the
//! API answers it; an error prints Tazapay's code and message and exits non-zero.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::remote::{Api, Connection};

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

fn phone_body(phone: &str) -> Value {
    json!({"type": "ovo_idr", "ovo_idr": {"phone": kasir_client::Phone::indonesian(phone)}})
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

/// What the command asks of the API: method, path, body.
fn request(call: &Call) -> (&'static str, String, Option<Value>) {
    match call {
        Call::Payin(PayinCommand::Create { amount, currency, description, reference_id, webhook_url, phone }) => {
            let mut body =
                json!({"amount": amount, "invoice_currency": currency, "transaction_description": description});
            if let Some(r) = reference_id {
                body["reference_id"] = json!(r);
            }
            if let Some(w) = webhook_url {
                body["webhook_url"] = json!(w);
            }
            if let Some(p) = phone {
                body["confirm"] = json!(true);
                body["payment_method_details"] = phone_body(p);
            }
            ("POST", "/v3/payin".into(), Some(body))
        }
        Call::Payin(PayinCommand::Get { id }) => ("GET", format!("/v3/payin/{id}"), None),
        Call::Payin(PayinCommand::List { status, limit }) => (
            "GET",
            format!("/v3/payin?{}", query(&[("status", status.clone()), ("limit", Some(limit.to_string()))])),
            None,
        ),
        Call::Payin(PayinCommand::Cancel { id }) => ("POST", format!("/v3/payin/{id}/cancel"), Some(json!({}))),
        Call::Refund(RefundCommand::Create { payin, reason }) => {
            let mut body = json!({"payin": payin});
            if let Some(r) = reason {
                body["reason"] = json!(r);
            }
            ("POST", "/v3/refund".into(), Some(body))
        }
        Call::Refund(RefundCommand::Get { id }) => ("GET", format!("/v3/refund/{id}"), None),
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
            let body = json!({
                "amount": amount, "invoice_currency": currency, "transaction_description": description,
                "success_url": success_url, "cancel_url": cancel_url,
                "customer_details": {"name": name, "email": email, "country": country},
            });
            ("POST", "/v3/checkout".into(), Some(body))
        }
        Call::Checkout(CheckoutCommand::Get { id }) => ("GET", format!("/v3/checkout/{id}"), None),
        Call::Event(EventCommand::List { object, kind, limit }) => {
            let q = query(&[("object_id", object.clone()), ("type", kind.clone()), ("limit", Some(limit.to_string()))]);
            ("GET", format!("/v3/event?{q}"), None)
        }
        Call::Event(EventCommand::Get { id }) => ("GET", format!("/v3/event/{id}"), None),
        Call::Event(EventCommand::Resend { id }) => ("POST", format!("/v3/event/{id}/resend"), Some(json!({}))),
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
    let api = Api::new(&common.connection.base(), &key)?;
    let (method, path, body) = request(&call);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let data = runtime.block_on(api.call(method, &path, body.as_ref()))?;
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
