//! A client for Kasir, the OVO payin gateway that speaks the Tazapay v3 API.
//!
//! - Every endpoint Kasir serves, with typed requests and answers ([`types`]).
//! - Errors carry Tazapay's codes ([`Error::Api`]).
//! - Every POST carries an `Idempotency-Key`, and is retried with the same key after a connection
//!   error or a 5xx, so a retry never charges twice (GETs are retried too; PUT and DELETE are not).
//! - [`webhook::verify`] checks a delivery's Standard Webhooks signature with a timestamp tolerance, and
//!   [`webhook::verify_signature`] Tazapay's `signature`; each returns the typed [`Event`].
//!
//! ```no_run
//! # async fn run() -> Result<(), kasir_client::Error> {
//! use kasir_client::{Client, NewPayin, Phone};
//!
//! let kasir = Client::new("http://127.0.0.1:8080", "ak_test_…", "sk_test_…");
//! let payin = kasir
//!     .create_payin(&NewPayin::new("IDR", 7_700_000, "2 x Kopi Susu").confirm_with(Phone::indonesian("081234567890")))
//!     .await?;
//! println!("{} is {}", payin.id, payin.status); // requires_action: the push is on the customer's phone
//! # Ok(()) }
//! ```

pub mod stream;
pub mod types;
pub mod webhook;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub use types::{Checkout, Customer, Deleted, Delivery, Event, List, Payin, PaymentAttempt, Refund, WebhookEndpoint};

/// What went wrong.
#[derive(Debug)]
pub enum Error {
    /// Kasir refused: its HTTP status, and Tazapay's code, message and the field at fault of the first
    /// problem; `errors` has every problem the answer names (a form may be wrong in several fields).
    /// An answer that is not Kasir's envelope (a proxy's error page) has code 0 and the start of its
    /// text as the message.
    Api { status: u16, code: u32, message: String, remarks: String, errors: Vec<FieldError> },
    /// No answer (connection refused, reset, timed out), after every retry.
    Transport(String),
    /// An answer that is not what the API documents.
    Decode(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Api { status, code, message, remarks, .. } => write!(f, "{status} {code}: {message} ({remarks})"),
            Error::Transport(e) => write!(f, "no answer from Kasir: {e}"),
            Error::Decode(e) => write!(f, "an answer Kasir does not send: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// One problem in a refusal: Tazapay's code, what is wrong, and the field (`remarks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: u32,
    pub message: String,
    pub remarks: String,
}

impl Error {
    /// The refusal in Kasir's error envelope (`{"status": "error", "message", "errors": [...]}`).
    pub(crate) fn from_envelope(status: u16, body: &Value) -> Error {
        // Each problem read on its own, leniently: one odd entry does not lose the others.
        let errors: Vec<FieldError> = body["errors"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| FieldError {
                        code: e["code"].as_u64().unwrap_or(0) as u32,
                        message: e["message"].as_str().unwrap_or("").to_string(),
                        remarks: e["remarks"].as_str().unwrap_or("").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let first = errors.first().cloned().unwrap_or(FieldError {
            code: 0,
            message: body["message"].as_str().unwrap_or("").to_string(),
            remarks: String::new(),
        });
        let message =
            if first.message.is_empty() { body["message"].as_str().unwrap_or("").into() } else { first.message };
        Error::Api { status, code: first.code, message, remarks: first.remarks, errors }
    }

    /// Tazapay's code, for a refusal.
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::Api { code, .. } if *code != 0 => Some(*code),
            _ => None,
        }
    }
}

/// An OVO phone number as the API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phone {
    pub calling_code: String,
    pub number: String,
}

impl Phone {
    /// An Indonesian number however it is written (`0812-3456-7890`, `+62 812…`, `812…`).
    pub fn indonesian(number: &str) -> Phone {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let national = digits.strip_prefix("62").or_else(|| digits.strip_prefix('0')).unwrap_or(&digits);
        Phone { calling_code: "62".into(), number: national.into() }
    }

    fn method(&self) -> Value {
        json!({"type": "ovo_idr", "ovo_idr": {"phone": self}})
    }
}

/// `POST /v3/payin/{id}/confirm`: the wallet to push to, and who is paying (details, or a customer
/// made with [`Client::create_customer`]).
#[derive(Debug, Clone, Serialize)]
pub struct Confirm {
    pub payment_method_details: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_details: Option<CustomerDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

impl Confirm {
    pub fn new(phone: Phone) -> Confirm {
        Confirm { payment_method_details: phone.method(), customer_details: None, customer: None }
    }

    pub fn customer_details(mut self, details: CustomerDetails) -> Confirm {
        self.customer_details = Some(details);
        self
    }

    /// A customer's id (`cus_…`).
    pub fn customer(mut self, id: &str) -> Confirm {
        self.customer = Some(id.into());
        self
    }
}

/// The customer a payin or checkout is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerDetails {
    pub name: String,
    pub email: String,
    /// ISO 3166 alpha-2, `ID`.
    pub country: String,
    /// Their OVO number, if the shop knows it: a checkout's page offers it to pay with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
}

impl CustomerDetails {
    pub fn new(name: &str, email: &str, country: &str) -> CustomerDetails {
        CustomerDetails { name: name.into(), email: email.into(), country: country.into(), phone: None }
    }

    pub fn phone(mut self, phone: Phone) -> CustomerDetails {
        self.phone = Some(phone);
        self
    }
}

/// `POST /v3/payin`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewPayin {
    pub invoice_currency: String,
    /// Minor units: IDR 77,000.00 is `7700000`.
    pub amount: i64,
    pub transaction_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_details: Option<CustomerDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_details: Option<Value>,
}

impl NewPayin {
    pub fn new(currency: &str, amount: i64, description: &str) -> NewPayin {
        NewPayin {
            invoice_currency: currency.into(),
            amount,
            transaction_description: description.into(),
            ..NewPayin::default()
        }
    }

    /// Confirms it in the same call: the push goes to `phone` at once.
    pub fn confirm_with(mut self, phone: Phone) -> NewPayin {
        self.confirm = Some(true);
        self.payment_method_details = Some(phone.method());
        self
    }

    pub fn reference_id(mut self, reference: &str) -> NewPayin {
        self.reference_id = Some(reference.into());
        self
    }

    pub fn webhook_url(mut self, url: &str) -> NewPayin {
        self.webhook_url = Some(url.into());
        self
    }
}

/// `POST /v3/checkout`.
#[derive(Debug, Clone, Serialize)]
pub struct NewCheckout {
    pub invoice_currency: String,
    pub amount: i64,
    pub transaction_description: String,
    pub customer_details: CustomerDetails,
    pub success_url: String,
    pub cancel_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// RFC 3339; 24 hours from now if not given, at most 90 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// What is being bought, listed on the checkout's page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

impl NewCheckout {
    /// A checkout with what it must have; the rest (`reference_id`, `webhook_url`, `expires_at`,
    /// `items`) can be set on it after.
    pub fn new(
        currency: &str,
        amount: i64,
        description: &str,
        customer: CustomerDetails,
        success_url: &str,
        cancel_url: &str,
    ) -> NewCheckout {
        NewCheckout {
            invoice_currency: currency.into(),
            amount,
            transaction_description: description.into(),
            customer_details: customer,
            success_url: success_url.into(),
            cancel_url: cancel_url.into(),
            reference_id: None,
            webhook_url: None,
            expires_at: None,
            items: Vec::new(),
        }
    }
}

/// One line of a checkout's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub name: String,
    pub quantity: u32,
    /// One unit's price, in minor units.
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `POST /v3/refund`: the whole payin (OVO refunds whole payments; an `amount`, if given, must be the
/// payin's).
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewRefund {
    pub payin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// `POST /v3/webhook_endpoint` and, each part that is set, `PUT`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_events: Option<Vec<String>>,
    /// `enabled` or `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Which page of a list, and its filters.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// 1 to 100.
    pub limit: Option<u32>,
    pub starting_after: Option<String>,
    /// Every filter the list takes (`status`, `payin`, `object_id`, `type`, `created_from`, `created_to`).
    pub filters: Vec<(String, String)>,
}

impl ListParams {
    pub fn filter(mut self, name: &str, value: &str) -> ListParams {
        self.filters.push((name.into(), value.into()));
        self
    }

    /// The query string (`status=succeeded&limit=10`), each part percent-encoded.
    pub fn query(&self) -> String {
        let mut pairs: Vec<(String, String)> = self.filters.clone();
        if let Some(l) = self.limit {
            pairs.push(("limit".into(), l.to_string()));
        }
        if let Some(a) = &self.starting_after {
            pairs.push(("starting_after".into(), a.clone()));
        }
        pairs.iter().map(|(k, v)| format!("{}={}", seg(k), seg(v))).collect::<Vec<_>>().join("&")
    }
}

/// `s` percent-encoded for a path segment or a query value: an id with `/`, `?` or `#` in it stays one
/// segment. (URL parsing still reads an id of `.` or `..` as a dot segment; Kasir answers those 404.)
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kasir's API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
    retries: u32,
}

impl Client {
    /// A client for the server at `base_url` (`https://kasir.example`), with a key pair. Requests time
    /// out after 30 s; a POST is tried up to 3 times.
    pub fn new(base_url: &str, access_key: &str, secret_key: &str) -> Client {
        use base64::Engine as _;
        let pair = format!("{access_key}:{secret_key}");
        Client {
            http: Self::http(Duration::from_secs(30)),
            base: base_url.trim_end_matches('/').to_string(),
            auth: format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
            retries: 2,
        }
    }

    fn http(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder().timeout(timeout).build().unwrap_or_default()
    }

    /// How long a request may take.
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.http = Self::http(timeout);
        self
    }

    /// How many times a request is tried again after a connection error or a 5xx (same
    /// `Idempotency-Key` for a POST).
    pub fn retries(mut self, retries: u32) -> Client {
        self.retries = retries;
        self
    }

    /// Sends a request and decodes the `data` of its answer. A POST carries `idempotency_key`, or one
    /// made here, on every try.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<T, Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| Error::Decode(e.to_string()))?;
        let key = match (method == reqwest::Method::POST, idempotency_key) {
            (true, Some(k)) => Some(k.to_string()),
            (true, None) => Some(format!("kc_{:032x}", rand::random::<u128>())),
            (false, _) => None,
        };
        let mut tries = 0;
        loop {
            let mut req =
                self.http.request(method.clone(), format!("{}{path}", self.base)).header("authorization", &self.auth);
            if let Some(k) = &key {
                req = req.header("idempotency-key", k);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = req.send().await;
            let failed = match &outcome {
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
                Ok(r) => r.status().is_server_error(),
            };
            if failed && tries < self.retries && Self::safe_to_repeat(&method) {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                continue;
            }
            let res = outcome.map_err(|e| Error::Transport(e.to_string()))?;
            let status = res.status().as_u16();
            let bytes = res.bytes().await.map_err(|e| Error::Transport(e.to_string()))?;
            if (200..300).contains(&status) {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?;
                return serde_json::from_value(v["data"].clone()).map_err(|e| Error::Decode(e.to_string()));
            }
            return Err(match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => Error::from_envelope(status, &v),
                // Not Kasir's envelope (a proxy's error page): the status, and the start of what it said.
                Err(_) => {
                    let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                    Error::Api {
                        status,
                        code: 0,
                        message: text.trim().to_string(),
                        remarks: String::new(),
                        errors: Vec::new(),
                    }
                }
            });
        }
    }

    /// Whether a request whose answer was lost may be sent again: a GET, or a POST (Kasir deduplicates
    /// every POST by its `Idempotency-Key`). A PUT or DELETE is not repeated: its second answer would
    /// not be its first's.
    fn safe_to_repeat(method: &reqwest::Method) -> bool {
        *method == reqwest::Method::GET || *method == reqwest::Method::POST
    }

    async fn post<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<T, Error> {
        let body = serde_json::to_value(body).map_err(|e| Error::Decode(e.to_string()))?;
        self.request("POST", path, Some(&body), None).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.request("GET", path, None, None).await
    }

    pub async fn create_payin(&self, payin: &NewPayin) -> Result<Payin, Error> {
        self.post("/v3/payin", payin).await
    }

    /// As [`Client::create_payin`], with your own `Idempotency-Key`: a repeat answers the first payin.
    pub async fn create_payin_once(&self, payin: &NewPayin, idempotency_key: &str) -> Result<Payin, Error> {
        let body = serde_json::to_value(payin).map_err(|e| Error::Decode(e.to_string()))?;
        self.request("POST", "/v3/payin", Some(&body), Some(idempotency_key)).await
    }

    pub async fn payin(&self, id: &str) -> Result<Payin, Error> {
        self.get(&format!("/v3/payin/{}", seg(id))).await
    }

    /// Sends the push to `phone`.
    pub async fn confirm_payin(&self, id: &str, phone: &Phone) -> Result<Payin, Error> {
        self.confirm_payin_with(id, &Confirm::new(phone.clone())).await
    }

    /// Sends the push, naming the customer too.
    pub async fn confirm_payin_with(&self, id: &str, confirm: &Confirm) -> Result<Payin, Error> {
        self.post(&format!("/v3/payin/{}/confirm", seg(id)), confirm).await
    }

    pub async fn cancel_payin(&self, id: &str) -> Result<Payin, Error> {
        self.post(&format!("/v3/payin/{}/cancel", seg(id)), &json!({})).await
    }

    pub async fn list_payins(&self, params: &ListParams) -> Result<List<Payin>, Error> {
        self.get(&format!("/v3/payin?{}", params.query())).await
    }

    /// Every payin the filters take, newest first, a page at a time.
    pub fn payins(&self, params: ListParams) -> Pager<Payin> {
        Pager::new(self.clone(), "/v3/payin", params)
    }

    /// `PUT /v3/payin/{id}`: the fields given (`webhook_url`, `transaction_description`,
    /// `reference_id`, `metadata`, …) replace the payin's.
    pub async fn update_payin(&self, id: &str, fields: &Value) -> Result<Payin, Error> {
        self.request("PUT", &format!("/v3/payin/{}", seg(id)), Some(fields), None).await
    }

    pub async fn payment_attempt(&self, id: &str) -> Result<PaymentAttempt, Error> {
        self.get(&format!("/v3/payment_attempt/{}", seg(id))).await
    }

    /// `PUT /v3/payment_attempt/{id}`: replaces its `metadata`.
    pub async fn update_payment_attempt(&self, id: &str, metadata: &Value) -> Result<PaymentAttempt, Error> {
        self.request("PUT", &format!("/v3/payment_attempt/{}", seg(id)), Some(&json!({"metadata": metadata})), None)
            .await
    }

    pub async fn create_customer(&self, customer: &CustomerDetails) -> Result<Customer, Error> {
        self.post("/v3/customer", customer).await
    }

    pub async fn customer(&self, id: &str) -> Result<Customer, Error> {
        self.get(&format!("/v3/customer/{}", seg(id))).await
    }

    pub async fn create_refund(&self, refund: &NewRefund) -> Result<Refund, Error> {
        self.post("/v3/refund", refund).await
    }

    pub async fn refund(&self, id: &str) -> Result<Refund, Error> {
        self.get(&format!("/v3/refund/{}", seg(id))).await
    }

    pub fn refunds(&self, params: ListParams) -> Pager<Refund> {
        Pager::new(self.clone(), "/v3/refund", params)
    }

    pub async fn create_checkout(&self, checkout: &NewCheckout) -> Result<Checkout, Error> {
        self.post("/v3/checkout", checkout).await
    }

    /// By the checkout's id or its payin's.
    pub async fn checkout(&self, id: &str) -> Result<Checkout, Error> {
        self.get(&format!("/v3/checkout/{}", seg(id))).await
    }

    pub async fn expire_checkout(&self, id: &str) -> Result<Checkout, Error> {
        self.post(&format!("/v3/checkout/{}/expire", seg(id)), &json!({})).await
    }

    pub fn checkouts(&self, params: ListParams) -> Pager<Checkout> {
        Pager::new(self.clone(), "/v3/checkout", params)
    }

    /// `GET /v3/metadata/collect`: the payment methods a checkout of this amount can offer.
    pub async fn collect_metadata(&self, currency: &str, amount: i64) -> Result<Value, Error> {
        self.get(&format!("/v3/metadata/collect?invoice_currency={}&amount={amount}", seg(currency))).await
    }

    /// Test keys only: the attempt succeeds now (`succeed`) or fails (`fail`, with `reason`, e.g. `declined`).
    pub async fn sandbox_attempt(
        &self,
        id: &str,
        succeed: bool,
        reason: Option<&str>,
    ) -> Result<PaymentAttempt, Error> {
        let (verb, body) = if succeed { ("succeed", json!({})) } else { ("fail", json!({"reason": reason})) };
        self.post(&format!("/v3/sandbox/payment_attempt/{}/{verb}", seg(id)), &body).await
    }

    /// Test keys only: the refund succeeds now (`succeed`) or fails (`fail`, with `reason`, e.g.
    /// `wallet_closed`).
    pub async fn sandbox_refund(&self, id: &str, succeed: bool, reason: Option<&str>) -> Result<Refund, Error> {
        let (verb, body) = if succeed { ("succeed", json!({})) } else { ("fail", json!({"reason": reason})) };
        self.post(&format!("/v3/sandbox/refund/{}/{verb}", seg(id)), &body).await
    }

    pub async fn event(&self, id: &str) -> Result<Event, Error> {
        self.get(&format!("/v3/event/{}", seg(id))).await
    }

    /// Any list (`/v3/payin`, `/v3/refund`, `/v3/checkout`, `/v3/event`), page by page, as `T`: a typed
    /// object, or `serde_json::Value` for the objects exactly as they came.
    pub fn list<T: DeserializeOwned + Listed>(&self, path: &'static str, params: ListParams) -> Pager<T> {
        Pager::new(self.clone(), path, params)
    }

    pub fn events(&self, params: ListParams) -> Pager<Event> {
        Pager::new(self.clone(), "/v3/event", params)
    }

    pub async fn deliveries(&self, event_id: &str) -> Result<List<Delivery>, Error> {
        self.get(&format!("/v3/event/{}/deliveries", seg(event_id))).await
    }

    pub async fn resend_event(&self, id: &str) -> Result<Event, Error> {
        self.post(&format!("/v3/event/{}/resend", seg(id)), &json!({})).await
    }

    pub async fn create_webhook_endpoint(&self, settings: &EndpointSettings) -> Result<WebhookEndpoint, Error> {
        self.post("/v3/webhook_endpoint", settings).await
    }

    pub async fn webhook_endpoints(&self) -> Result<List<WebhookEndpoint>, Error> {
        self.get("/v3/webhook_endpoint").await
    }

    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpoint, Error> {
        self.get(&format!("/v3/webhook_endpoint/{}", seg(id))).await
    }

    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        settings: &EndpointSettings,
    ) -> Result<WebhookEndpoint, Error> {
        let body = serde_json::to_value(settings).map_err(|e| Error::Decode(e.to_string()))?;
        self.request("PUT", &format!("/v3/webhook_endpoint/{}", seg(id)), Some(&body), None).await
    }

    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<Deleted, Error> {
        self.request("DELETE", &format!("/v3/webhook_endpoint/{}", seg(id)), None, None).await
    }
}

/// A list read a page at a time: [`Pager::next`] gives each object in turn, fetching the next page
/// when one runs out.
pub struct Pager<T> {
    client: Client,
    path: &'static str,
    params: ListParams,
    page: std::collections::VecDeque<T>,
    done: bool,
}

/// An object a list holds, which the next page starts after.
pub trait Listed {
    fn id(&self) -> &str;
}

macro_rules! listed {
    ($($t:ty),*) => {$(impl Listed for $t { fn id(&self) -> &str { &self.id } })*};
}
listed!(Payin, Refund, Event, Checkout);

/// An object read as JSON, as it came.
impl Listed for Value {
    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or("")
    }
}

impl<T: DeserializeOwned + Listed> Pager<T> {
    fn new(client: Client, path: &'static str, params: ListParams) -> Pager<T> {
        let params = ListParams { limit: params.limit.or(Some(100)), ..params };
        Pager { client, path, params, page: Default::default(), done: false }
    }

    /// The next object, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<T>, Error> {
        if self.page.is_empty() && !self.done {
            let list: List<T> = self.client.get(&format!("{}?{}", self.path, self.params.query())).await?;
            self.done = !list.has_more;
            if let Some(last) = list.data.last() {
                self.params.starting_after = Some(last.id().to_string());
            } else {
                self.done = true;
            }
            self.page.extend(list.data);
        }
        Ok(self.page.pop_front())
    }

    /// Every object left, reading the remaining pages.
    pub async fn all(mut self) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        while let Some(t) = self.next().await? {
            all.push(t);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A server that answers 503 to the first request and the payin to the next, noting each
    /// request's `Idempotency-Key`.
    async fn flaky() -> (String, Arc<Mutex<Vec<String>>>) {
        use axum::http::{HeaderMap, StatusCode};
        let keys: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = keys.clone();
        let app = axum::Router::new().route(
            "/v3/payin",
            axum::routing::post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let n = {
                        let mut k = seen.lock().unwrap();
                        k.push(key);
                        k.len()
                    };
                    if n == 1 {
                        return (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"error","message":"busy","errors":[{"code":102,"message":"busy","remarks":""}]}"#.to_string());
                    }
                    (StatusCode::OK, r#"{"status":"success","data":{"id":"pay_1","status":"requires_payment_method","amount":100,"invoice_currency":"IDR","created_at":"2026-12-06T00:00:00Z"}}"#.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, keys)
    }

    #[tokio::test]
    async fn a_proxys_error_page_keeps_its_status() {
        let app = axum::Router::new().route(
            "/v3/payin/{id}",
            axum::routing::get(|| async {
                (axum::http::StatusCode::BAD_GATEWAY, "<html><h1>502 Bad Gateway</h1></html>")
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let e = Client::new(&base, "ak_test_x", "sk_test_y").retries(0).payin("pay_1").await.unwrap_err();
        match &e {
            Error::Api { status: 502, code: 0, message, .. } => {
                assert!(message.contains("502 Bad Gateway"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), None, "no Tazapay code");
    }

    #[tokio::test]
    async fn a_post_is_tried_again_after_a_5xx_with_the_same_idempotency_key() {
        let (base, keys) = flaky().await;
        let kasir = Client::new(&base, "ak_test_x", "sk_test_y");
        let p = kasir.create_payin(&NewPayin::new("IDR", 100, "x")).await.unwrap();
        assert_eq!(p.id, "pay_1");
        let keys = keys.lock().unwrap().clone();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].starts_with("kc_") && keys[0] == keys[1], "{keys:?}");
    }

    #[tokio::test]
    async fn no_answer_is_a_transport_error_after_the_retries() {
        let kasir = Client::new("http://127.0.0.1:9", "ak_test_x", "sk_test_y").retries(1);
        assert!(matches!(kasir.payin("pay_1").await, Err(Error::Transport(_))));
    }

    #[test]
    fn phones_and_queries_are_written_as_the_api_takes_them() {
        assert_eq!(Phone::indonesian("+62 812-3456-7890").number, "81234567890");
        assert_eq!(Phone::indonesian("081234567890").number, "81234567890");
        let q = ListParams { limit: Some(5), ..Default::default() }.filter("created_from", "2026-12-01T00:00:00+07:00");
        assert_eq!(q.query(), "created_from=2026-12-01T00%3A00%3A00%2B07%3A00&limit=5");
    }
}
