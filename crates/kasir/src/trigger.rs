//! `kasir trigger EVENT`: makes an event really happen on a Kasir server, in test mode, through its API:
//! it creates the objects the event needs and drives them with the sandbox controls, so the event and
//! every event before it are recorded and sent as they would be in a real payment.

use std::io::Write as _;

use kasir_client::{Checkout, Client, CustomerDetails, Error, NewCheckout, NewPayin, NewRefund, Payin, Phone};
use kasir_domain::EventType;

use crate::remote::Connection;

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

/// The events `trigger` makes, and the steps it takes for each (every type but `payin.processing`,
/// which an OVO payment never passes through).
pub const EVENTS: [(EventType, &str); 14] = [
    (EventType::PayinCreated, "create a payin"),
    (EventType::PayinRequiresAction, "create a payin and confirm it (the push waits)"),
    (EventType::PaymentAttemptCreated, "create a payin and confirm it"),
    (EventType::PayinSucceeded, "create, confirm, and the sandbox approves the push"),
    (EventType::PaymentAttemptSucceeded, "create, confirm, and the sandbox approves the push"),
    (EventType::PaymentAttemptFailed, "create, confirm, and the sandbox declines the push"),
    (EventType::PayinRequiresPaymentMethod, "create, confirm, and the sandbox declines the push"),
    (EventType::PayinCancelled, "create a payin and cancel it"),
    (EventType::RefundPending, "a paid payin, refunded"),
    (EventType::RefundSucceeded, "a paid payin, refunded, and the sandbox completes the refund"),
    (EventType::RefundFailed, "a paid payin, refunded, and the sandbox fails the refund"),
    (EventType::CheckoutCreated, "create a checkout"),
    (EventType::CheckoutPaid, "create a checkout and pay its payin"),
    (EventType::CheckoutExpired, "create a checkout and expire it"),
];

/// The sandbox's always-approving number.
fn phone() -> Phone {
    Phone::indonesian("81234567890")
}

fn customer() -> CustomerDetails {
    CustomerDetails::new("Kasir Trigger", "trigger@example.com", "ID")
}

fn new_payin() -> NewPayin {
    NewPayin { customer_details: Some(customer()), ..NewPayin::new("IDR", 5_000_000, "kasir trigger") }
}

/// A payin confirmed to the sandbox's number; its push waits.
async fn confirmed(kasir: &Client) -> Result<Payin, Error> {
    kasir.create_payin(&new_payin().confirm_with(phone())).await
}

/// A payin the sandbox has approved; its id.
async fn paid(kasir: &Client) -> Result<String, Error> {
    let p = confirmed(kasir).await?;
    kasir.sandbox_attempt(&p.latest_payment_attempt, true, None).await?;
    Ok(p.id)
}

async fn checkout(kasir: &Client) -> Result<Checkout, Error> {
    let new = NewCheckout::new(
        "IDR",
        5_000_000,
        "kasir trigger",
        customer(),
        "https://shop.example/thanks",
        "https://shop.example/cart",
    );
    kasir.create_checkout(&new).await
}

/// Makes `event` happen once; returns the id of the object it is about.
async fn once(kasir: &Client, event: EventType) -> Result<String, Error> {
    use EventType::*;
    Ok(match event {
        PayinCreated | PayinProcessing => kasir.create_payin(&new_payin()).await?.id,
        PayinRequiresAction => confirmed(kasir).await?.id,
        PaymentAttemptCreated => confirmed(kasir).await?.latest_payment_attempt,
        PayinSucceeded => paid(kasir).await?,
        PaymentAttemptSucceeded => {
            let attempt = confirmed(kasir).await?.latest_payment_attempt;
            kasir.sandbox_attempt(&attempt, true, None).await?.id
        }
        PaymentAttemptFailed | PayinRequiresPaymentMethod => {
            let p = confirmed(kasir).await?;
            let attempt = kasir.sandbox_attempt(&p.latest_payment_attempt, false, Some("declined")).await?;
            if event == PayinRequiresPaymentMethod {
                p.id
            } else {
                attempt.id
            }
        }
        PayinCancelled => {
            let p = kasir.create_payin(&new_payin()).await?;
            kasir.cancel_payin(&p.id).await?.id
        }
        RefundPending | RefundSucceeded | RefundFailed => {
            let new =
                NewRefund { payin: paid(kasir).await?, reason: Some("kasir trigger".into()), ..Default::default() };
            let r = kasir.create_refund(&new).await?.id;
            match event {
                RefundSucceeded => kasir.sandbox_refund(&r, true, None).await.map(drop)?,
                RefundFailed => kasir.sandbox_refund(&r, false, None).await.map(drop)?,
                _ => {}
            }
            r
        }
        CheckoutCreated => checkout(kasir).await?.id,
        CheckoutPaid => {
            let c = checkout(kasir).await?;
            let p = kasir.confirm_payin(&c.payin, &phone()).await?;
            kasir.sandbox_attempt(&p.latest_payment_attempt, true, None).await?;
            c.id
        }
        CheckoutExpired => {
            let c = checkout(kasir).await?;
            kasir.expire_checkout(&c.id).await?.id
        }
    })
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
            println!("{:<32} {how}", event.as_str());
        }
        return Ok(());
    }
    let name = args.event.clone().unwrap_or_default();
    let Some(&(event, _)) = EVENTS.iter().find(|(e, _)| e.as_str() == name) else {
        return Err(format!("kasir trigger cannot make {name} happen; kasir trigger --list names what it can"));
    };
    let key = args.connection.key()?;
    if key.is_live() {
        return Err("kasir trigger drives test payments with the sandbox: give a test key".into());
    }
    let kasir = key.client(&args.connection.base());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        for i in 0..args.count {
            let object = once(&kasir, event).await.map_err(|e| e.to_string())?;
            if args.count == 1 {
                println!("{name}: {object}");
            } else {
                progress(i + 1, args.count);
            }
        }
        Ok(())
    })
}
