//! `kasir trigger EVENT`: makes an event really happen on a Kasir server, in test mode, through its API:
//! it creates the objects the event needs and drives them with the sandbox controls, so the event and
//! every event before it are recorded and sent as they would be in a real payment.

use std::io::Write as _;

use serde_json::{json, Value};

use crate::remote::{Api, Connection};

#[derive(clap::Args, Debug)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The event to make happen (`kasir trigger --list` names them).
    #[arg(required_unless_present = "list")]
    pub event: Option<String>,
    /// How many times.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Name the events that can be triggered, and what each one does.
    #[arg(long)]
    pub list: bool,
}

/// The events `trigger` makes, and the steps it takes for each.
pub const EVENTS: [(&str, &str); 14] = [
    ("payin.created", "create a payin"),
    ("payin.requires_action", "create a payin and confirm it (the push waits)"),
    ("payment_attempt.created", "create a payin and confirm it"),
    ("payin.succeeded", "create, confirm, and the sandbox approves the push"),
    ("payment_attempt.succeeded", "create, confirm, and the sandbox approves the push"),
    ("payment_attempt.failed", "create, confirm, and the sandbox declines the push"),
    ("payin.requires_payment_method", "create, confirm, and the sandbox declines the push"),
    ("payin.cancelled", "create a payin and cancel it"),
    ("refund.pending", "a paid payin, refunded"),
    ("refund.succeeded", "a paid payin, refunded, and the sandbox completes the refund"),
    ("refund.failed", "a paid payin, refunded, and the sandbox fails the refund"),
    ("checkout.created", "create a checkout"),
    ("checkout.paid", "create a checkout and pay its payin"),
    ("checkout.expired", "create a checkout and expire it"),
];

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// A payin confirmed to the sandbox's always-approving number; returns (payin, attempt).
async fn confirmed(api: &Api) -> Result<(String, String), String> {
    let p = api
        .post(
            "/v3/payin",
            json!({
                "invoice_currency": "IDR", "amount": 5_000_000, "transaction_description": "kasir trigger",
                "customer_details": {"name": "Kasir Trigger", "email": "trigger@example.com", "country": "ID"},
                "confirm": true,
                "payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": "81234567890"}}},
            }),
        )
        .await?;
    Ok((id(&p), p["latest_payment_attempt"].as_str().unwrap_or_default().to_string()))
}

async fn paid(api: &Api) -> Result<String, String> {
    let (payin, attempt) = confirmed(api).await?;
    api.post(&format!("/v3/sandbox/payment_attempt/{attempt}/succeed"), json!({})).await?;
    Ok(payin)
}

async fn checkout(api: &Api) -> Result<Value, String> {
    api.post(
        "/v3/checkout",
        json!({
            "invoice_currency": "IDR", "amount": 5_000_000, "transaction_description": "kasir trigger",
            "customer_details": {"name": "Kasir Trigger", "email": "trigger@example.com", "country": "ID"},
            "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart",
        }),
    )
    .await
}

/// Makes `event` happen once; returns the id of the object it is about.
async fn once(api: &Api, event: &str) -> Result<String, String> {
    match event {
        "payin.created" => {
            let body =
                json!({"invoice_currency": "IDR", "amount": 5_000_000, "transaction_description": "kasir trigger"});
            Ok(id(&api.post("/v3/payin", body).await?))
        }
        "payin.requires_action" => Ok(confirmed(api).await?.0),
        "payment_attempt.created" => Ok(confirmed(api).await?.1),
        "payin.succeeded" => paid(api).await,
        "payment_attempt.succeeded" => {
            let (_, attempt) = confirmed(api).await?;
            api.post(&format!("/v3/sandbox/payment_attempt/{attempt}/succeed"), json!({})).await?;
            Ok(attempt)
        }
        "payment_attempt.failed" | "payin.requires_payment_method" => {
            let (payin, attempt) = confirmed(api).await?;
            api.post(&format!("/v3/sandbox/payment_attempt/{attempt}/fail"), json!({"reason": "declined"})).await?;
            Ok(if event.starts_with("payin") { payin } else { attempt })
        }
        "payin.cancelled" => {
            let body =
                json!({"invoice_currency": "IDR", "amount": 5_000_000, "transaction_description": "kasir trigger"});
            let p = id(&api.post("/v3/payin", body).await?);
            api.post(&format!("/v3/payin/{p}/cancel"), json!({})).await?;
            Ok(p)
        }
        "refund.pending" | "refund.succeeded" | "refund.failed" => {
            let payin = paid(api).await?;
            let r = id(&api.post("/v3/refund", json!({"payin": payin, "reason": "kasir trigger"})).await?);
            match event {
                "refund.succeeded" => drop(api.post(&format!("/v3/sandbox/refund/{r}/succeed"), json!({})).await?),
                "refund.failed" => drop(api.post(&format!("/v3/sandbox/refund/{r}/fail"), json!({})).await?),
                _ => {}
            }
            Ok(r)
        }
        "checkout.created" => Ok(id(&checkout(api).await?)),
        "checkout.paid" => {
            let c = checkout(api).await?;
            let payin = c["payin"].as_str().unwrap_or_default();
            let confirm = json!({"payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": "81234567890"}}}});
            let p = api.post(&format!("/v3/payin/{payin}/confirm"), confirm).await?;
            let attempt = p["latest_payment_attempt"].as_str().unwrap_or_default();
            api.post(&format!("/v3/sandbox/payment_attempt/{attempt}/succeed"), json!({})).await?;
            Ok(id(&c))
        }
        "checkout.expired" => {
            let c = id(&checkout(api).await?);
            api.post(&format!("/v3/checkout/{c}/expire"), json!({})).await?;
            Ok(c)
        }
        other => Err(format!("kasir trigger cannot make {other} happen; kasir trigger --list names what it can")),
    }
}

/// A progress bar on standard error, `[#####-----] 5/10`, redrawn in place on a terminal; elsewhere (a
/// log, a pipe) only the last line is written, so a log holds no carriage-return clutter.
fn progress(done: usize, all: usize) {
    use std::io::IsTerminal as _;
    let on_terminal = std::io::stderr().is_terminal();
    if !on_terminal && done < all {
        return;
    }
    let width = 30;
    let filled = done * width / all.max(1);
    let bar = format!("[{}{}] {done}/{all}", "#".repeat(filled), "-".repeat(width - filled));
    match on_terminal {
        true => eprint!("\r{bar}"),
        false => eprint!("{bar}"),
    }
    if done == all {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}

pub fn trigger(args: TriggerArgs) -> Result<(), String> {
    if args.list {
        for (event, how) in EVENTS {
            println!("{event:<32} {how}");
        }
        return Ok(());
    }
    let event = args.event.clone().unwrap_or_default();
    if !EVENTS.iter().any(|(e, _)| *e == event) {
        return Err(format!("kasir trigger cannot make {event} happen; kasir trigger --list names what it can"));
    }
    let key = args.connection.key()?;
    if key.is_live() {
        return Err("kasir trigger drives test payments with the sandbox: give a test key".into());
    }
    let api = Api::new(&args.connection.base(), &key)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        for i in 0..args.count {
            let object = once(&api, &event).await?;
            if args.count == 1 {
                println!("{event}: {object}");
            } else {
                progress(i + 1, args.count);
            }
        }
        Ok(())
    })
}
