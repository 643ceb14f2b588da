//! Bad requests: each answers in the Tazapay envelope with the documented status, code and field, and
//! leaves the database exactly as it was.

use serde_json::{json, Value};

use crate::helpers::{basic, confirm_body, payin_body, TestApp, SEED_ACCESS_KEY};

#[derive(Clone, Copy)]
enum Auth {
    Test,
    Live,
    None,
    Raw(&'static str),
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    auth: Auth,
    headers: &'static [(&'static str, &'static str)],
    body: Option<String>,
    status: u16,
    code: u64,
    remarks: &'static str,
}

fn case(name: &'static str, method: &'static str, path: &'static str, body: Option<Value>) -> Case {
    Case {
        name,
        method,
        path,
        auth: Auth::Test,
        headers: &[],
        body: body.map(|b| b.to_string()),
        status: 400,
        code: 0,
        remarks: "",
    }
}

impl Case {
    fn expect(mut self, status: u16, code: u64, remarks: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self.remarks = remarks;
        self
    }
    fn auth(mut self, a: Auth) -> Case {
        self.auth = a;
        self
    }
    fn raw(mut self, body: &str) -> Case {
        self.body = Some(body.to_string());
        self
    }
    fn headers(mut self, h: &'static [(&'static str, &'static str)]) -> Case {
        self.headers = h;
        self
    }
}

fn create_with(f: impl FnOnce(&mut Value)) -> Option<Value> {
    let mut b = payin_body(10_000_000);
    f(&mut b);
    Some(b)
}

fn confirm_with(f: impl FnOnce(&mut Value)) -> Option<Value> {
    let mut b = confirm_body("81234567890");
    f(&mut b);
    Some(b)
}

fn cases() -> Vec<Case> {
    let long_key: &'static str = Box::leak("k".repeat(256).into_boxed_str());
    let long_key_header: &'static [(&'static str, &'static str)] =
        Box::leak(vec![("idempotency-key", long_key)].into_boxed_slice());
    let wrong_secret: &'static str = Box::leak(basic(SEED_ACCESS_KEY, "sk_test_wrong").into_boxed_str());
    let unknown_key: &'static str =
        Box::leak(basic("ak_test_AAAAAAAAAAAAAAAAAAAA", "sk_test_whatever").into_boxed_str());
    let no_colon: &'static str = Box::leak(format!("Basic {}", "YWtfdGVzdF9ub2NvbG9u").into_boxed_str());
    let many_keys: Value = (0..51).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>().into();
    vec![
        // Credentials.
        case("no authorization header", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::None).expect(401, 109, "Authorization"),
        case("empty basic credentials", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw("Basic ")).expect(401, 109, "Authorization"),
        case("bearer instead of basic", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw("Bearer abc")).expect(401, 108, "Authorization"),
        case("credentials not base64", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw("Basic !!!")).expect(401, 108, "Authorization"),
        case("credentials without colon", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw(no_colon)).expect(401, 108, "Authorization"),
        case("unknown access key", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw(unknown_key)).expect(401, 111, "Authorization"),
        case("wrong secret", "POST", "/v3/payin", create_with(|_| {})).auth(Auth::Raw(wrong_secret)).expect(401, 111, "Authorization"),
        case("wrong secret on GET", "GET", "/v3/payin/{rpm}", None).auth(Auth::Raw(wrong_secret)).expect(401, 111, "Authorization"),
        // Malformed JSON and wrong types.
        case("truncated JSON", "POST", "/v3/payin", None).raw("{\"amount\": 1").expect(400, 100, "body"),
        case("empty body", "POST", "/v3/payin", None).raw("").expect(400, 100, "body"),
        case("body is an array", "POST", "/v3/payin", None).raw("[]").expect(400, 100, "body"),
        case("amount as string", "POST", "/v3/payin", create_with(|b| b["amount"] = json!("10000000"))).expect(400, 100, "amount"),
        case("confirm as string", "POST", "/v3/payin", create_with(|b| b["confirm"] = json!("yes"))).expect(400, 100, "confirm"),
        case("customer_details as string", "POST", "/v3/payin", create_with(|b| b["customer_details"] = json!("x"))).expect(400, 100, "customer_details"),
        case("customer name as number", "POST", "/v3/payin", create_with(|b| b["customer_details"] = json!({"name": 5, "email": "a@example.com", "country": "ID"}))).expect(400, 100, "customer_details.name"),
        case("metadata as string", "POST", "/v3/payin", create_with(|b| b["metadata"] = json!("x"))).expect(400, 100, "metadata"),
        case("payment_methods not a list", "POST", "/v3/payin", create_with(|b| b["payment_methods"] = json!("ovo_idr"))).expect(400, 100, "payment_methods"),
        // Missing and invalid fields of create.
        case("missing amount", "POST", "/v3/payin", create_with(|b| { b.as_object_mut().unwrap().remove("amount"); })).expect(400, 1001, "amount"),
        case("missing currency", "POST", "/v3/payin", create_with(|b| { b.as_object_mut().unwrap().remove("invoice_currency"); })).expect(400, 1001, "invoice_currency"),
        case("missing description", "POST", "/v3/payin", create_with(|b| { b.as_object_mut().unwrap().remove("transaction_description"); })).expect(400, 1001, "transaction_description"),
        case("blank description", "POST", "/v3/payin", create_with(|b| b["transaction_description"] = json!("  "))).expect(400, 1002, "transaction_description"),
        case("zero amount", "POST", "/v3/payin", create_with(|b| b["amount"] = json!(0))).expect(400, 1008, "amount"),
        case("negative amount", "POST", "/v3/payin", create_with(|b| b["amount"] = json!(-10000))).expect(400, 1008, "amount"),
        case("fractional amount", "POST", "/v3/payin", None).raw(r#"{"invoice_currency":"IDR","amount":10000.5,"transaction_description":"x"}"#).expect(400, 1008, "amount"),
        case("amount beyond u64", "POST", "/v3/payin", None).raw(r#"{"invoice_currency":"IDR","amount":99999999999999999999,"transaction_description":"x"}"#).expect(400, 1008, "amount"),
        case("amount beyond i64", "POST", "/v3/payin", None).raw(r#"{"invoice_currency":"IDR","amount":18446744073709551615,"transaction_description":"x"}"#).expect(400, 1008, "amount"),
        case("amount in exponent form", "POST", "/v3/payin", None).raw(r#"{"invoice_currency":"IDR","amount":1e30,"transaction_description":"x"}"#).expect(400, 1008, "amount"),
        case("amount not whole rupiah", "POST", "/v3/payin", create_with(|b| b["amount"] = json!(10050))).expect(400, 1006, "amount"),
        case("unsupported currency", "POST", "/v3/payin", create_with(|b| b["invoice_currency"] = json!("USD"))).expect(400, 1003, "invoice_currency"),
        case("empty currency", "POST", "/v3/payin", create_with(|b| b["invoice_currency"] = json!(""))).expect(400, 1003, "invoice_currency"),
        case("webhook_url not a URL", "POST", "/v3/payin", create_with(|b| b["webhook_url"] = json!("not a url"))).expect(400, 1002, "webhook_url"),
        case("webhook_url ftp", "POST", "/v3/payin", create_with(|b| b["webhook_url"] = json!("ftp://example.com/x"))).expect(400, 1002, "webhook_url"),
        case("live webhook_url over http", "POST", "/v3/payin", create_with(|b| b["webhook_url"] = json!("http://merchant.example/webhook"))).auth(Auth::Live).expect(400, 1002, "webhook_url"),
        case("relative success_url", "POST", "/v3/payin", create_with(|b| b["success_url"] = json!("/thanks"))).expect(400, 1002, "success_url"),
        case("customer without email", "POST", "/v3/payin", create_with(|b| b["customer_details"] = json!({"name": "A", "country": "ID"}))).expect(400, 1001, "customer_details.email"),
        case("customer with bad email", "POST", "/v3/payin", create_with(|b| b["customer_details"] = json!({"name": "A", "email": "andrea", "country": "ID"}))).expect(400, 1002, "customer_details.email"),
        case("customer with 3-letter country", "POST", "/v3/payin", create_with(|b| b["customer_details"] = json!({"name": "A", "email": "a@example.com", "country": "IDN"}))).expect(400, 1002, "customer_details.country"),
        case("metadata with 51 keys", "POST", "/v3/payin", create_with(|b| b["metadata"] = many_keys.clone())).expect(400, 1002, "metadata"),
        case("unsupported payment method in list", "POST", "/v3/payin", create_with(|b| b["payment_methods"] = json!(["card"]))).expect(400, 1007, "payment_methods[0]"),
        case("one-call confirm without method", "POST", "/v3/payin", create_with(|b| b["confirm"] = json!(true))).expect(400, 1001, "payment_method_details"),
        case("one-call confirm with bad phone", "POST", "/v3/payin", create_with(|b| {
            b["confirm"] = json!(true);
            b["payment_method_details"] = confirm_body("71234567890")["payment_method_details"].clone();
        })).expect(400, 1004, "payment_method_details.ovo_idr.phone.number"),
        case("one-call confirm below OVO minimum", "POST", "/v3/payin", create_with(|b| {
            b["amount"] = json!(5000);
            b["confirm"] = json!(true);
            b["payment_method_details"] = confirm_body("81234567890")["payment_method_details"].clone();
        })).expect(400, 1005, "amount"),
        case("unknown customer on create", "POST", "/v3/payin", create_with(|b| b["customer"] = json!("cus_aaaaaaaaaaaaaaaaaaaa"))).expect(404, 105, "customer"),
        // Confirm.
        case("confirm without method", "POST", "/v3/payin/{rpm}/confirm", Some(json!({}))).expect(400, 1001, "payment_method_details"),
        case("confirm with card", "POST", "/v3/payin/{rpm}/confirm", confirm_with(|b| b["payment_method_details"]["type"] = json!("card"))).expect(400, 1007, "payment_method_details.type"),
        case("confirm without ovo_idr", "POST", "/v3/payin/{rpm}/confirm", Some(json!({"payment_method_details": {"type": "ovo_idr"}}))).expect(400, 1001, "payment_method_details.ovo_idr"),
        case("confirm without phone", "POST", "/v3/payin/{rpm}/confirm", Some(json!({"payment_method_details": {"type": "ovo_idr", "ovo_idr": {}}}))).expect(400, 1001, "payment_method_details.ovo_idr.phone"),
        case("confirm without number", "POST", "/v3/payin/{rpm}/confirm", Some(json!({"payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62"}}}}))).expect(400, 1001, "payment_method_details.ovo_idr.phone.number"),
        case("confirm with Singapore code", "POST", "/v3/payin/{rpm}/confirm", confirm_with(|b| b["payment_method_details"]["ovo_idr"]["phone"]["calling_code"] = json!("65"))).expect(400, 1004, "payment_method_details.ovo_idr.phone.calling_code"),
        case("confirm with landline", "POST", "/v3/payin/{rpm}/confirm", Some(confirm_body("2112345678"))).expect(400, 1004, "payment_method_details.ovo_idr.phone.number"),
        case("confirm with too short number", "POST", "/v3/payin/{rpm}/confirm", Some(confirm_body("81234"))).expect(400, 1004, "payment_method_details.ovo_idr.phone.number"),
        case("sandbox number with live key", "POST", "/v3/payin/{live}/confirm", Some(confirm_body("0123456789"))).auth(Auth::Live).expect(400, 1004, "payment_method_details.ovo_idr.phone.number"),
        case("confirm below OVO minimum", "POST", "/v3/payin/{small}/confirm", Some(confirm_body("81234567890"))).expect(400, 1005, "amount"),
        case("confirm unknown payin", "POST", "/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa/confirm", Some(confirm_body("81234567890"))).expect(404, 105, "id"),
        case("confirm with unknown customer", "POST", "/v3/payin/{rpm}/confirm", confirm_with(|b| b["customer"] = json!("cus_aaaaaaaaaaaaaaaaaaaa"))).expect(404, 105, "customer"),
        case("confirm while awaiting the customer", "POST", "/v3/payin/{ra}/confirm", Some(confirm_body("81234567890"))).expect(409, 19627, "status"),
        case("confirm a cancelled payin", "POST", "/v3/payin/{cancelled}/confirm", Some(confirm_body("81234567890"))).expect(409, 19626, "status"),
        case("confirm a test payin with a live key", "POST", "/v3/payin/{rpm}/confirm", Some(confirm_body("81234567890"))).auth(Auth::Live).expect(404, 105, "id"),
        // Cancel.
        case("cancel a cancelled payin", "POST", "/v3/payin/{cancelled}/cancel", None).expect(409, 19626, "status"),
        case("cancel an unknown payin", "POST", "/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa/cancel", None).expect(404, 105, "id"),
        // Fetch and list.
        case("unknown payin", "GET", "/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa", None).expect(404, 105, "id"),
        case("malformed payin id", "GET", "/v3/payin/nonsense", None).expect(404, 105, "id"),
        case("test payin with a live key", "GET", "/v3/payin/{rpm}", None).auth(Auth::Live).expect(404, 105, "id"),
        case("live payin with a test key", "GET", "/v3/payin/{live}", None).expect(404, 105, "id"),
        case("unknown attempt", "GET", "/v3/payment_attempt/pat_aaaaaaaaaaaaaaaaaaaa", None).expect(404, 105, "id"),
        case("test attempt with a live key", "GET", "/v3/payment_attempt/{pat}", None).auth(Auth::Live).expect(404, 105, "id"),
        case("unknown customer", "GET", "/v3/customer/cus_aaaaaaaaaaaaaaaaaaaa", None).expect(404, 105, "id"),
        case("list with limit 0", "GET", "/v3/payin?limit=0", None).expect(400, 104, "limit"),
        case("list with limit 1000", "GET", "/v3/payin?limit=1000", None).expect(400, 104, "limit"),
        case("list with unknown status", "GET", "/v3/payin?status=paid", None).expect(400, 104, "status"),
        case("list after unknown cursor", "GET", "/v3/payin?starting_after=pay_aaaaaaaaaaaaaaaaaaaa", None).expect(400, 104, "starting_after"),
        // Updates.
        case("update with metadata as list", "PUT", "/v3/payin/{rpm}", Some(json!({"metadata": [1]}))).expect(400, 100, "metadata"),
        case("update cancelled payin's URL", "PUT", "/v3/payin/{cancelled}", Some(json!({"success_url": "https://shop.example/ok"}))).expect(409, 19626, "success_url"),
        case("update unknown payin", "PUT", "/v3/payin/pay_aaaaaaaaaaaaaaaaaaaa", Some(json!({"reference_id": "x"}))).expect(404, 105, "id"),
        case("update attempt without metadata", "PUT", "/v3/payment_attempt/{pat}", Some(json!({}))).expect(400, 1001, "metadata"),
        // Customers.
        case("customer without name", "POST", "/v3/customer", Some(json!({"email": "a@example.com", "country": "ID"}))).expect(400, 1001, "name"),
        case("customer with bad phone", "POST", "/v3/customer", Some(json!({"name": "A", "email": "a@example.com", "country": "ID", "phone": {"calling_code": "62", "number": "x"}}))).expect(400, 1002, "phone.number"),
        // Idempotency keys and routes.
        case("idempotency key too long", "POST", "/v3/payin", create_with(|_| {})).headers(long_key_header).expect(400, 1101, "Idempotency-Key"),
        case("unknown route", "GET", "/v3/nothing", None).expect(404, 105, "path"),
        case("method not allowed", "DELETE", "/v3/payin/{rpm}", None).expect(405, 106, "method"),
    ]
}

backend_tests! {
async fn bad_requests_answer_with_documented_errors_and_write_nothing() {
    let app = TestApp::spawn().await;
    // Objects the cases point at.
    let rpm = app.create_payin(10_000_000).await;
    let small = app.create_payin(5_000).await;
    let ra = app.confirmed_payin(10_000_000).await;
    let pat = ra.latest_payment_attempt.clone();
    let cancelled = app.create_payin(10_000_000).await;
    assert_eq!(app.post(&format!("/v3/payin/{cancelled}/cancel"), &json!({})).await.status, 200);
    let mut live_body = payin_body(10_000_000);
    live_body["webhook_url"] = json!("https://merchant.example/webhook");
    let live = app.send("POST", "/v3/payin", Some(&app.live_auth), &[], Some(&live_body.to_string())).await;
    assert_eq!(live.status, 200, "{}", live.body);
    let live = live.id();

    let before = app.row_counts().await;
    let all = cases();
    assert!(all.len() >= 40, "the table covers {} bad requests", all.len());
    for c in all {
        let path = c
            .path
            .replace("{rpm}", &rpm)
            .replace("{small}", &small)
            .replace("{ra}", &ra.id)
            .replace("{pat}", &pat)
            .replace("{cancelled}", &cancelled)
            .replace("{live}", &live);
        let auth = match c.auth {
            Auth::Test => Some(app.test_auth.clone()),
            Auth::Live => Some(app.live_auth.clone()),
            Auth::None => None,
            Auth::Raw(s) => Some(s.to_string()),
        };
        let answer = app.send(c.method, &path, auth.as_deref(), c.headers, c.body.as_deref()).await;
        assert_eq!(
            (answer.status, answer.body["errors"][0]["code"].as_u64(), answer.body["errors"][0]["remarks"].as_str()),
            (c.status, Some(c.code), Some(c.remarks)),
            "case {:?}: {}",
            c.name,
            answer.body
        );
        answer.assert_error(c.status, c.code, c.remarks);
        assert_eq!(answer.headers["content-type"], "application/json", "case {:?}", c.name);
        assert_eq!(app.row_counts().await, before, "case {:?} wrote to the database", c.name);
    }
}
}

backend_tests! {
async fn all_problems_of_a_request_are_reported_at_once() {
    let app = TestApp::spawn().await;
    let a = app.post("/v3/payin", &json!({"amount": 0, "invoice_currency": "USD"})).await;
    assert_eq!(a.status, 400);
    let remarks: Vec<_> = a.body["errors"].as_array().unwrap().iter().map(|e| e["remarks"].as_str().unwrap()).collect();
    assert_eq!(remarks, ["invoice_currency", "amount", "transaction_description"]);
    assert_eq!(a.body["message"], "3 problems with the request");
}
}
