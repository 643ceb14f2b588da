//! `/openapi.json` is generated from the handlers and lists exactly the routes the router serves.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::TestApp;

const ROUTES: &[(&str, &str)] = &[
    ("post", "/v3/payin"),
    ("get", "/v3/payin"),
    ("get", "/v3/payin/{id}"),
    ("put", "/v3/payin/{id}"),
    ("post", "/v3/payin/{id}/confirm"),
    ("post", "/v3/payin/{id}/cancel"),
    ("get", "/v3/payment_attempt/{id}"),
    ("put", "/v3/payment_attempt/{id}"),
    ("post", "/v3/customer"),
    ("get", "/v3/customer/{id}"),
    ("get", "/v3/event"),
    ("get", "/v3/event/{id}"),
    ("get", "/v3/event/{id}/deliveries"),
    ("get", "/v3/event/stream"),
    ("post", "/v3/event/{id}/resend"),
    ("post", "/v3/sandbox/payment_attempt/{id}/succeed"),
    ("post", "/v3/sandbox/payment_attempt/{id}/fail"),
    ("post", "/v3/refund"),
    ("get", "/v3/refund"),
    ("get", "/v3/refund/{id}"),
    ("post", "/v3/sandbox/refund/{id}/succeed"),
    ("post", "/v3/sandbox/refund/{id}/fail"),
    ("post", "/v3/checkout"),
    ("get", "/v3/checkout"),
    ("get", "/v3/checkout/{id}"),
    ("post", "/v3/checkout/{id}/expire"),
    ("get", "/v3/metadata/collect"),
    ("post", "/v3/webhook_endpoint"),
    ("get", "/v3/webhook_endpoint"),
    ("get", "/v3/webhook_endpoint/{id}"),
    ("put", "/v3/webhook_endpoint/{id}"),
    ("delete", "/v3/webhook_endpoint/{id}"),
];

backend_tests! {
async fn openapi_parses_and_lists_every_route_the_router_serves() {
    let app = TestApp::spawn().await;
    let doc = app.send("GET", "/openapi.json", None, &[], None).await;
    assert_eq!(doc.status, 200);
    let spec = &doc.body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            listed.insert((method.clone(), path.clone()));
            assert!(op["responses"]["200"].is_object(), "{method} {path} documents its success");
            assert!(op["responses"]["401"].is_object(), "{method} {path} documents auth failure");
        }
    }
    let expected: BTreeSet<_> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(listed, expected);

    // Every documented operation is served: none falls through to the router's 404 or 405.
    for (method, path) in &listed {
        let concrete = path.replace("{id}", "x");
        // A stream resumed after no event is refused at once, rather than streaming forever.
        let resume = [("last-event-id", "evt_aaaaaaaaaaaaaaaaaaaa")];
        let a = app.send(&method.to_uppercase(), &concrete, Some(&app.test_auth), &resume, Some("{}")).await;
        let remarks = a.body["errors"][0]["remarks"].as_str().unwrap_or("");
        assert!(
            !(a.status == 404 && remarks == "path") && a.status != 405,
            "{method} {path} is documented but not served: {}",
            a.body
        );
    }
    // And a route that is not documented is not served.
    let a = app.send("GET", "/v3/refund_everything/now", Some(&app.test_auth), &[], None).await;
    a.assert_error(404, 105, "path");

    // Request and response schemas are there for the payin.
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in ["Payin", "PaymentAttempt", "Customer", "CreatePayinRequest", "ConfirmPayinRequest", "ErrorBody"] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    let payin_fields = schemas["Payin"]["properties"].as_object().unwrap();
    assert!(payin_fields.contains_key("latest_payment_attempt_data"));
    assert_eq!(spec["components"]["securitySchemes"]["basic"]["scheme"], Value::from("basic"));
}
}

#[test]
fn the_document_is_as_strict_as_the_server() {
    let doc: Value = serde_json::from_str(&kasir_api::openapi().to_json().unwrap()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        schemas[name]["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(required("CreatePayinRequest"), ["invoice_currency", "amount", "transaction_description"]);
    assert_eq!(required("ConfirmPayinRequest"), ["payment_method_details"]);
    assert_eq!(required("CustomerDetailsInput"), ["name", "email", "country"]);
    assert_eq!(required("CreateCustomerRequest"), ["name", "email", "country"]);
    assert_eq!(required("PhoneInput"), ["calling_code", "number"]);
    assert_eq!(required("UpdateAttemptRequest"), ["metadata"]);
    // A required field may not be null.
    assert_eq!(schemas["CreatePayinRequest"]["properties"]["amount"]["type"], "integer");
    let email = &schemas["CreateCustomerRequest"]["properties"]["email"];
    assert_eq!(email["pattern"], kasir_domain::customer::EMAIL_PATTERN);
    assert_eq!(schemas["CustomerDetailsInput"]["properties"]["email"], *email, "one e-mail rule");
    assert_eq!(
        schemas["CreatePayinRequest"]["properties"]["invoice_currency"]["pattern"],
        "^\\s*(?:[Ii][Dd][Rr])\\s*$"
    );
    let reasons = &schemas["SandboxFailRequest"]["properties"]["reason"]["enum"];
    assert!(reasons.as_array().unwrap().contains(&Value::from("insufficient_balance")), "{reasons}");
    assert!(!reasons.as_array().unwrap().contains(&Value::from("cancelled")), "{reasons}");

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let answers = op["responses"].as_object().unwrap();
            for status in ["401", "429", "503"] {
                assert!(answers.contains_key(status), "{method} {path} documents {status}");
            }
            if op.get("requestBody").is_some() {
                assert!(answers.contains_key("400") && answers.contains_key("413"), "{method} {path}: 400 and 413");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                match p["name"].as_str().unwrap() {
                    "limit" => assert_eq!(
                        (p["schema"]["minimum"].clone(), p["schema"]["maximum"].clone()),
                        (1.into(), 100.into())
                    ),
                    "Idempotency-Key" => {
                        assert_eq!(
                            (p["schema"]["minLength"].clone(), p["schema"]["maxLength"].clone()),
                            (1.into(), 255.into())
                        );
                        assert!(
                            answers.contains_key("409") && answers.contains_key("422"),
                            "{method} {path}: 409 and 422"
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}
