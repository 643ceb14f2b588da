//! The seed guide's requests, sent exactly as it writes them, checked against its sample response.

use serde_json::Value;

use crate::helpers::{is_id, is_timestamp, Answer, Receiver, TestApp, SEED_AUTHORIZATION};

/// The sample response of the seed's step 3 (the e-mail as the original request carried it).
const SAMPLE_RESPONSE: &str = r#"{
"status": "success",
"message": "",
"data": {
"amount": 10000000,
"amount_paid": 0,
"billing_details": null,
"cancel_url": "",
"cancelled_at": null,
"client_token": "zWJsECjWXQNPD-bZ64pV3LGIPjdpgOnsdrwLHEP4wX8=",
"confirm": true,
"created_at": "2024-01-29T13:05:54.270403381Z",
"customer": "cus_cmrq5c6oui3lmrvb8tpg",
"customer_details": {
"country": "ID",
"email": "andrea@example.com",
"name": "Andrea Lark",
"phone": null
},
"id": "pay_cmrq5c74r2tr8tu3s2gg",
"invoice_currency": "IDR",
"latest_payment_attempt": "pat_cmrq5cf4r2tr8tu3s2o0",
"latest_payment_attempt_data": {
"expires_at": "2024-02-03T13:05:54Z"
},
"metadata": null,
"object": "payin",
"paid_in_excess": false,
"partially_paid": false,
"payment_attempts": [],
"payment_method_details": {
"ovo_idr": {
"phone": {
"calling_code": "62",
"number": "81234567890"
}
},
"type": "ovo_idr"
},
"reference_id": "",
"shipping_details": null,
"statement_descriptor": "",
"status": "requires_action",
"status_description": "",
"success_url": "",
"transaction_data": [],
"transaction_description": "1 X Good",
"transaction_documents": [],
"webhook_url": "https://webhook.site/ref8y92937922"
}
}"#;

const STEP1: &str = r#"
{
"invoice_currency": "IDR",
"amount": 10000000,
"transaction_description": "1 X Good",
"webhook_url": "https://webhook.site/ref8y92937922"
}
"#;

const STEP2: &str = r#"
{
"customer_details": {
"name": "Andrea Lark",
"email": "andrea@example.com",
"country": "ID"
},
"payment_method_details": {
"type": "ovo_idr",
"ovo_idr":{
"phone":{
"calling_code":"62",
"number":"81234567890"
}
}
}
}
"#;

const ONE_CALL: &str = r#"{
"invoice_currency": "IDR",
"amount": 10000000,
"transaction_description": "1 X Good",
"webhook_url": "https://webhook.site/ref8y92937922",
"confirm":true,
"customer_details": {
"name": "Andrea Lark",
"email": "andrea@example.com",
"country": "ID"
},
"payment_method_details": {
"type": "ovo_idr",
"ovo_idr": {
"phone": {
"calling_code":"62",
"number":"81234567890"
}
}
}
}"#;

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares an answer with the sample, field by field: the same fields with the same types, the same
/// values where the value is not generated, and well-formed ids, tokens and times where it is.
fn check_against_sample(got: &Value, webhook_url: &str) {
    let mut sample: Value = serde_json::from_str(SAMPLE_RESPONSE).unwrap();
    sample["data"]["webhook_url"] = Value::String(webhook_url.to_string());
    assert_eq!(got["status"], "success");
    assert_eq!(got["message"], "");
    let (want, got) = (sample["data"].as_object().unwrap(), got["data"].as_object().unwrap());
    let mut want_keys: Vec<_> = want.keys().collect();
    let mut got_keys: Vec<_> = got.keys().collect();
    want_keys.sort();
    got_keys.sort();
    assert_eq!(got_keys, want_keys, "the payin's fields differ from the sample's");
    for (field, w) in want {
        let g = &got[field];
        assert_eq!(json_type(g), json_type(w), "type of {field}: got {g}, sample {w}");
        match field.as_str() {
            "id" => assert!(is_id(g, "pay_"), "{field}: {g}"),
            "customer" => assert!(is_id(g, "cus_"), "{field}: {g}"),
            "latest_payment_attempt" => assert!(is_id(g, "pat_"), "{field}: {g}"),
            "created_at" => assert!(is_timestamp(g), "{field}: {g}"),
            "latest_payment_attempt_data" => {
                assert!(is_timestamp(&g["expires_at"]), "{field}: {g}")
            }
            "client_token" => {
                let s = g.as_str().unwrap();
                assert_eq!(s.len(), 44, "{field}: {g}");
                assert!(s.ends_with('='), "{field}: {g}");
            }
            _ => assert_eq!(g, w, "value of {field}"),
        }
    }
}

/// POSTs `body` as the guide's curl does (its headers and authorization), with its webhook URL pointing
/// at `receiver`.
async fn as_in_the_guide(app: &TestApp, path: &str, body: &str, receiver: &Receiver) -> Answer {
    let headers = [("accept", "application/json"), ("content-type", "application/json")];
    let body = body.replace("https://webhook.site/ref8y92937922", &receiver.url);
    app.send("POST", path, Some(SEED_AUTHORIZATION), &headers, Some(&body)).await
}

backend_tests! {
async fn seed_steps_one_and_two_answer_like_the_sample() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let created = as_in_the_guide(&app, "/v3/payin", STEP1, &receiver).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.data()["status"], "requires_payment_method");
    assert_eq!(created.data()["latest_payment_attempt"], "");
    assert_eq!(created.data()["latest_payment_attempt_data"], Value::Null);
    assert_eq!(created.data()["confirm"], false);
    let id = created.id();

    let confirmed = as_in_the_guide(&app, &format!("/v3/payin/{id}/confirm"), STEP2, &receiver).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    check_against_sample(&confirmed.body, &receiver.url);
    assert_eq!(confirmed.id(), id);
    assert_eq!(confirmed.data()["client_token"], created.data()["client_token"]);

    // The attempt and customer it names exist and agree with it.
    let pat = confirmed.data()["latest_payment_attempt"].as_str().unwrap();
    let attempt = app.send("GET", &format!("/v3/payment_attempt/{pat}"), Some(SEED_AUTHORIZATION), &[], None).await;
    assert_eq!(attempt.status, 200);
    assert_eq!(attempt.data()["status"], "requires_action");
    assert_eq!(attempt.data()["payin"], id.as_str());
    assert_eq!(attempt.data()["amount"], 10000000);
    assert_eq!(attempt.data()["expires_at"], confirmed.data()["latest_payment_attempt_data"]["expires_at"]);
    let cus = confirmed.data()["customer"].as_str().unwrap();
    let customer = app.send("GET", &format!("/v3/customer/{cus}"), Some(SEED_AUTHORIZATION), &[], None).await;
    assert_eq!(customer.status, 200);
    assert_eq!(customer.data()["email"], "andrea@example.com");

    // Fetching returns what confirm returned.
    let fetched = app.send("GET", &format!("/v3/payin/{id}"), Some(SEED_AUTHORIZATION), &[], None).await;
    assert_eq!(fetched.body, confirmed.body);
}
}

backend_tests! {
async fn seed_one_call_variant_creates_and_confirms() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let a = as_in_the_guide(&app, "/v3/payin", ONE_CALL, &receiver).await;
    assert_eq!(a.status, 200, "{}", a.body);
    check_against_sample(&a.body, &receiver.url);
    assert_eq!(app.count("payment_attempts").await, 1);
    assert_eq!(app.count("customers").await, 1);
}
}
