//! The wire shape of each object, pinned. Generated values (ids, tokens, times) are replaced by their
//! field names so that the snapshot holds only the shape and the fixed values; a time is first checked
//! to be written as Tazapay writes time (Go's `RFC3339Nano`).

use serde_json::{json, Value};

use crate::helpers::{confirm_body, TestApp};

const GENERATED: &[&str] = &["id", "customer", "latest_payment_attempt", "payin", "payment_attempt", "client_token"];
const TIMES: &[&str] = &["created_at", "expires_at", "cancelled_at"];

/// Go's `RFC3339Nano` in UTC: `2006-01-02T15:04:05.999999999Z`, the fraction without trailing zeros
/// and without its point when it is zero.
fn is_rfc3339_nano(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let tail = &b[19.min(b.len())..];
    let fraction_ok = match tail {
        [b'Z'] => true,
        [b'.', frac @ .., b'Z'] => {
            (1..=9).contains(&frac.len()) && digits(20..20 + frac.len()) && frac.last() != Some(&b'0')
        }
        _ => false,
    };
    head && fraction_ok
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if GENERATED.contains(&k.as_str()) && val.as_str().is_some_and(|s| !s.is_empty()) {
                    *val = Value::String(format!("[{k}]"));
                } else if let (true, Some(t)) = (TIMES.contains(&k.as_str()), val.as_str()) {
                    assert!(is_rfc3339_nano(t), "{k} = {t:?} is not RFC3339Nano");
                    *val = Value::String(format!("[{k}: RFC3339Nano]"));
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

fn shape(mut v: Value) -> Value {
    redact(&mut v);
    v
}

backend_tests! {
async fn wire_shapes_are_pinned() {
    let app = TestApp::spawn().await;
    let mut body = crate::helpers::payin_body(10_000_000);
    // A closed local port: the snapshot shows the field; the delivery goes nowhere.
    body["webhook_url"] = json!("http://127.0.0.1:9/webhook");
    let created = app.post("/v3/payin", &body).await;
    insta::assert_json_snapshot!("payin_created", shape(created.body.clone()));

    let id = created.id();
    let confirmed = app.post(&format!("/v3/payin/{id}/confirm"), &confirm_body("81234567890")).await;
    insta::assert_json_snapshot!("payin_confirmed", shape(confirmed.body.clone()));

    let pat = confirmed.data()["latest_payment_attempt"].as_str().unwrap().to_string();
    let attempt = app.get(&format!("/v3/payment_attempt/{pat}")).await;
    insta::assert_json_snapshot!("payment_attempt", shape(attempt.body));

    let cus = confirmed.data()["customer"].as_str().unwrap().to_string();
    let customer = app.get(&format!("/v3/customer/{cus}")).await;
    insta::assert_json_snapshot!("customer", shape(customer.body));

    let cancelled = app.post(&format!("/v3/payin/{id}/cancel"), &json!({})).await;
    insta::assert_json_snapshot!("payin_cancelled", shape(cancelled.body));

    let paid = app.create_payin(5_000_000).await;
    let c = app.post(&format!("/v3/payin/{paid}/confirm"), &confirm_body("81234567890")).await;
    let pat = c.data()["latest_payment_attempt"].as_str().unwrap().to_string();
    app.post(&format!("/v3/sandbox/payment_attempt/{pat}/succeed"), &json!({})).await;
    let refund = app.post("/v3/refund", &json!({"payin": paid, "reason": "Customer Return"})).await;
    insta::assert_json_snapshot!("refund", shape(refund.body));

    let error =
        app.post("/v3/payin", &json!({"invoice_currency": "IDR", "amount": -1, "transaction_description": "x"})).await;
    insta::assert_json_snapshot!("error_envelope", error.body);
}
}
