//! Request bodies as they arrive, and their parsing into domain types. Every problem is reported with
//! the field's JSON path; all of a request's problems are reported at once.

use kasir_domain::customer::{is_plausible_email, parse_country};
use kasir_domain::{
    codes, Amount, AmountError, ContactPhone, Currency, CustomerDetails, FieldError, Mode, NewPayin, PayinFields,
    PaymentMethodDetails, Phone, PhoneError,
};
use kasir_store::ops::{ConfirmRequest, CreatePayin};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use utoipa::ToSchema;

use crate::ApiError;

const MAX_TEXT: usize = 1024;
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY_LEN: usize = 40;
const MAX_METADATA_BYTES: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PhoneInput {
    #[schema(example = "62")]
    pub calling_code: Option<String>,
    #[schema(example = "81234567890")]
    pub number: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CustomerDetailsInput {
    #[schema(example = "Andrea Lark")]
    pub name: Option<String>,
    #[schema(example = "andrea@example.com")]
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "ID")]
    pub country: Option<String>,
    pub phone: Option<PhoneInput>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OvoInput {
    pub phone: Option<PhoneInput>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PaymentMethodInput {
    /// `ovo_idr`
    #[serde(rename = "type")]
    #[schema(example = "ovo_idr")]
    pub kind: Option<String>,
    pub ovo_idr: Option<OvoInput>,
}

/// `POST /v3/payin`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreatePayinRequest {
    #[schema(example = "IDR")]
    pub invoice_currency: Option<String>,
    /// Minor units: IDR 100,000.00 is `10000000`.
    #[schema(value_type = Option<i64>, example = 10000000)]
    pub amount: Option<Number>,
    #[schema(example = "1 X Good")]
    pub transaction_description: Option<String>,
    pub customer_details: Option<CustomerDetailsInput>,
    /// An existing customer (`cus_…`).
    pub customer: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub webhook_url: Option<String>,
    pub payment_methods: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub reference_id: Option<String>,
    pub statement_descriptor: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub transaction_documents: Option<Vec<Value>>,
    /// Create and confirm in one call.
    pub confirm: Option<bool>,
    pub payment_method_details: Option<PaymentMethodInput>,
}

/// `POST /v3/payin/{id}/confirm`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ConfirmPayinRequest {
    pub customer_details: Option<CustomerDetailsInput>,
    pub customer: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub payment_method_details: Option<PaymentMethodInput>,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub reference_id: Option<String>,
    pub statement_descriptor: Option<String>,
}

/// `PUT /v3/payin/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdatePayinRequest {
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub reference_id: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub webhook_url: Option<String>,
    pub transaction_description: Option<String>,
    pub statement_descriptor: Option<String>,
    pub customer_details: Option<CustomerDetailsInput>,
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub shipping_details: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub transaction_documents: Option<Vec<Value>>,
}

/// `PUT /v3/payment_attempt/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateAttemptRequest {
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `POST /v3/customer`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateCustomerRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    pub country: Option<String>,
    pub phone: Option<PhoneInput>,
    pub reference_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// Collects field errors while parsing a request.
#[derive(Default)]
struct Check {
    errors: Vec<FieldError>,
    mode: Option<Mode>,
}

impl Check {
    fn new(mode: Mode) -> Self {
        Check { errors: Vec::new(), mode: Some(mode) }
    }

    fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }

    fn text(&mut self, v: Option<String>, field: &str, required: bool) -> Option<String> {
        match v {
            None if required => {
                self.push(FieldError::required(field));
                None
            }
            None => None,
            Some(s) if required && s.trim().is_empty() => {
                self.push(FieldError::invalid(field, "must not be empty"));
                None
            }
            Some(s) if s.chars().count() > MAX_TEXT => {
                self.push(FieldError::invalid(field, format!("must be at most {MAX_TEXT} characters")));
                None
            }
            Some(s) => Some(s),
        }
    }

    fn url(&mut self, v: Option<String>, field: &str, webhook: bool) -> Option<String> {
        let s = self.text(v, field, false)?;
        if s.is_empty() {
            return Some(s);
        }
        let parsed = match url::Url::parse(&s) {
            Ok(u) => u,
            Err(_) => {
                self.push(FieldError::invalid(field, "must be an absolute http or https URL"));
                return None;
            }
        };
        let scheme_ok = match (parsed.scheme(), self.mode) {
            ("https", _) => true,
            ("http", Some(Mode::Test)) => true,
            ("http", _) if !webhook => true,
            _ => false,
        };
        if !scheme_ok || parsed.host_str().is_none_or(str::is_empty) {
            let why = if webhook && parsed.scheme() == "http" {
                "must use https with a live key (http is allowed in test mode)"
            } else {
                "must be an absolute http or https URL"
            };
            self.push(FieldError::invalid(field, why));
            return None;
        }
        Some(s)
    }

    fn object(&mut self, v: Option<Value>, field: &str) -> Option<Value> {
        match v {
            None => None,
            Some(v @ Value::Object(_)) => Some(v),
            Some(_) => {
                self.push(FieldError::new(codes::BAD_JSON, format!("{field} must be a JSON object"), field));
                None
            }
        }
    }

    fn metadata(&mut self, v: Option<Value>) -> Option<Map<String, Value>> {
        let Value::Object(m) = self.object(v, "metadata")? else {
            return None;
        };
        if m.len() > MAX_METADATA_KEYS {
            self.push(FieldError::invalid("metadata", format!("may hold at most {MAX_METADATA_KEYS} keys")));
            return None;
        }
        if let Some(k) = m.keys().find(|k| k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN) {
            self.push(FieldError::invalid(
                &format!("metadata.{k}"),
                format!("keys must be 1 to {MAX_METADATA_KEY_LEN} characters"),
            ));
            return None;
        }
        if serde_json::to_vec(&m).map(|b| b.len()).unwrap_or(usize::MAX) > MAX_METADATA_BYTES {
            self.push(FieldError::invalid("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes as JSON")));
            return None;
        }
        Some(m)
    }

    fn contact_phone(&mut self, p: PhoneInput, field: &str) -> Option<ContactPhone> {
        let cc = self.text(p.calling_code, &format!("{field}.calling_code"), true);
        let number = self.text(p.number, &format!("{field}.number"), true);
        let (cc, number) = (cc?, number?);
        let cc_digits = cc.trim().trim_start_matches('+');
        if cc_digits.is_empty() || cc_digits.len() > 4 || !cc_digits.bytes().all(|b| b.is_ascii_digit()) {
            self.push(FieldError::invalid(&format!("{field}.calling_code"), "must be 1 to 4 digits, e.g. 62"));
            return None;
        }
        let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        if !(4..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.push(FieldError::invalid(&format!("{field}.number"), "must be 4 to 15 digits"));
            return None;
        }
        Some(ContactPhone { calling_code: cc_digits.to_string(), number: digits })
    }

    fn customer_details(&mut self, c: CustomerDetailsInput, field: &str) -> Option<CustomerDetails> {
        let path = |n: &str| {
            if field.is_empty() {
                n.to_string()
            } else {
                format!("{field}.{n}")
            }
        };
        let name = self.text(c.name, &path("name"), true);
        let email = self.text(c.email, &path("email"), true).and_then(|e| {
            let e = e.trim().to_string();
            if is_plausible_email(&e) {
                Some(e)
            } else {
                self.push(FieldError::invalid(&path("email"), "must be an e-mail address"));
                None
            }
        });
        let country = self.text(c.country, &path("country"), true).and_then(|s| {
            let parsed = parse_country(s.trim());
            if parsed.is_none() {
                self.push(FieldError::invalid(&path("country"), "must be an ISO 3166-1 alpha-2 code, e.g. ID"));
            }
            parsed
        });
        let phone = match c.phone {
            Some(p) => Some(self.contact_phone(p, &path("phone"))?),
            None => None,
        };
        Some(CustomerDetails { country: country?, email: email?, name: name?, phone })
    }

    fn payment_method(&mut self, p: Option<PaymentMethodInput>) -> Option<PaymentMethodDetails> {
        const F: &str = "payment_method_details";
        let Some(p) = p else {
            self.push(FieldError::required(F));
            return None;
        };
        let kind = self.text(p.kind, &format!("{F}.type"), true)?;
        if kind != "ovo_idr" {
            self.push(FieldError::new(
                codes::UNSUPPORTED_PAYMENT_METHOD,
                format!("payment method {kind:?} is not supported; Kasir charges ovo_idr"),
                format!("{F}.type"),
            ));
            return None;
        }
        let Some(ovo) = p.ovo_idr else {
            self.push(FieldError::required(&format!("{F}.ovo_idr")));
            return None;
        };
        let Some(phone) = ovo.phone else {
            self.push(FieldError::required(&format!("{F}.ovo_idr.phone")));
            return None;
        };
        let cc = self.text(phone.calling_code, &format!("{F}.ovo_idr.phone.calling_code"), true);
        let number = self.text(phone.number, &format!("{F}.ovo_idr.phone.number"), true);
        let (cc, number) = (cc?, number?);
        match Phone::parse(&cc, &number, self.mode.unwrap_or(Mode::Live)) {
            Ok(phone) => Some(PaymentMethodDetails::ovo(phone)),
            Err(e) => {
                let sub = match e {
                    PhoneError::CallingCode => "calling_code",
                    PhoneError::Number => "number",
                };
                self.push(FieldError::new(
                    codes::INVALID_PHONE,
                    format!("{F}.ovo_idr.phone.{sub}: {e}"),
                    format!("{F}.ovo_idr.phone.{sub}"),
                ));
                None
            }
        }
    }

    fn customer_ref(&mut self, v: Option<String>) -> Option<String> {
        self.text(v, "customer", false).filter(|s| !s.is_empty())
    }
}

/// The fields create, confirm and update share, as received.
struct Shared {
    customer_details: Option<CustomerDetailsInput>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    shipping_details: Option<Value>,
    billing_details: Option<Value>,
    metadata: Option<Value>,
    reference_id: Option<String>,
    statement_descriptor: Option<String>,
}

fn confirm_fields(c: &mut Check, f: Shared) -> PayinFields {
    PayinFields {
        customer_details: f.customer_details.and_then(|d| c.customer_details(d, "customer_details")),
        billing_details: c.object(f.billing_details, "billing_details"),
        shipping_details: c.object(f.shipping_details, "shipping_details"),
        success_url: c.url(f.success_url, "success_url", false),
        cancel_url: c.url(f.cancel_url, "cancel_url", false),
        webhook_url: None,
        metadata: c.metadata(f.metadata),
        reference_id: c.text(f.reference_id, "reference_id", false),
        statement_descriptor: c.text(f.statement_descriptor, "statement_descriptor", false),
        transaction_description: None,
        transaction_documents: None,
    }
}

impl CreatePayinRequest {
    pub fn parse(self, mode: Mode) -> Result<CreatePayin, ApiError> {
        let mut c = Check::new(mode);
        let currency = match self.invoice_currency {
            None => {
                c.push(FieldError::required("invoice_currency"));
                None
            }
            Some(code) => {
                let cur = Currency::parse(code.trim());
                if cur.is_none() {
                    c.push(FieldError::new(
                        codes::UNSUPPORTED_CURRENCY,
                        format!("invoice_currency {code:?} is not supported; Kasir collects IDR"),
                        "invoice_currency",
                    ));
                }
                cur
            }
        };
        let amount = match self.amount {
            None => {
                c.push(FieldError::required("amount"));
                None
            }
            Some(n) => match Amount::from_json(&n) {
                Ok(a) if currency == Some(Currency::Idr) && !a.is_whole_units() => {
                    c.push(FieldError::new(
                        codes::AMOUNT_NOT_WHOLE_UNITS,
                        "amount must be whole rupiah: the last two digits of an IDR amount must be 00",
                        "amount",
                    ));
                    None
                }
                Ok(a) => Some(a),
                Err(e) => {
                    let code = match e {
                        AmountError::NotPositive | AmountError::NotInteger | AmountError::TooLarge => {
                            codes::INVALID_AMOUNT
                        }
                    };
                    c.push(FieldError::new(code, format!("amount {e}"), "amount"));
                    None
                }
            },
        };
        let description = c.text(self.transaction_description, "transaction_description", true);
        if let Some(methods) = &self.payment_methods {
            for (i, m) in methods.iter().enumerate() {
                if m != "ovo_idr" {
                    c.push(FieldError::new(
                        codes::UNSUPPORTED_PAYMENT_METHOD,
                        format!("payment method {m:?} is not supported; Kasir charges ovo_idr"),
                        format!("payment_methods[{i}]"),
                    ));
                }
            }
        }
        for (i, item) in self.items.iter().flatten().enumerate() {
            if !item.is_object() {
                c.push(FieldError::new(
                    codes::BAD_JSON,
                    format!("items[{i}] must be a JSON object"),
                    format!("items[{i}]"),
                ));
            }
        }
        let customer_id = c.customer_ref(self.customer);
        let mut fields = confirm_fields(
            &mut c,
            Shared {
                customer_details: self.customer_details,
                success_url: self.success_url,
                cancel_url: self.cancel_url,
                shipping_details: self.shipping_details,
                billing_details: self.billing_details,
                metadata: self.metadata,
                reference_id: self.reference_id,
                statement_descriptor: self.statement_descriptor,
            },
        );
        fields.webhook_url = c.url(self.webhook_url, "webhook_url", true);
        fields.transaction_documents = self.transaction_documents;
        let confirm = if self.confirm == Some(true) {
            c.payment_method(self.payment_method_details).map(|pm| ConfirmRequest {
                payment_method: pm,
                customer_id: None,
                fields: PayinFields::default(),
            })
        } else {
            if self.payment_method_details.is_some() {
                // Checked now so that a mistake is reported at once; applied when the payin is confirmed.
                c.payment_method(self.payment_method_details);
            }
            None
        };
        let (Some(amount), Some(currency), Some(description)) = (amount, currency, description) else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(CreatePayin {
            amount,
            currency,
            new: NewPayin { transaction_description: description, details: fields },
            customer_id,
            confirm,
        })
    }
}

impl ConfirmPayinRequest {
    pub fn parse(self, mode: Mode) -> Result<ConfirmRequest, ApiError> {
        let mut c = Check::new(mode);
        let pm = c.payment_method(self.payment_method_details);
        let customer_id = c.customer_ref(self.customer);
        let fields = confirm_fields(
            &mut c,
            Shared {
                customer_details: self.customer_details,
                success_url: self.success_url,
                cancel_url: self.cancel_url,
                shipping_details: self.shipping_details,
                billing_details: self.billing_details,
                metadata: self.metadata,
                reference_id: self.reference_id,
                statement_descriptor: self.statement_descriptor,
            },
        );
        let Some(pm) = pm else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(ConfirmRequest { payment_method: pm, customer_id, fields })
    }
}

impl UpdatePayinRequest {
    pub fn parse(self, mode: Mode) -> Result<PayinFields, ApiError> {
        let mut c = Check::new(mode);
        let mut f = confirm_fields(
            &mut c,
            Shared {
                customer_details: self.customer_details,
                success_url: self.success_url,
                cancel_url: self.cancel_url,
                shipping_details: self.shipping_details,
                billing_details: self.billing_details,
                metadata: self.metadata,
                reference_id: self.reference_id,
                statement_descriptor: self.statement_descriptor,
            },
        );
        f.webhook_url = c.url(self.webhook_url, "webhook_url", true);
        f.transaction_description = match self.transaction_description {
            Some(d) => c.text(Some(d), "transaction_description", true),
            None => None,
        };
        f.transaction_documents = self.transaction_documents;
        c.finish(f)
    }
}

impl UpdateAttemptRequest {
    pub fn parse(self, mode: Mode) -> Result<Option<Map<String, Value>>, ApiError> {
        let mut c = Check::new(mode);
        if self.metadata.is_none() {
            c.push(FieldError::required("metadata"));
        }
        let m = c.metadata(self.metadata);
        c.finish(m)
    }
}

pub struct NewCustomer {
    pub details: CustomerDetails,
    pub reference_id: String,
    pub metadata: Option<Map<String, Value>>,
}

impl CreateCustomerRequest {
    pub fn parse(self, mode: Mode) -> Result<NewCustomer, ApiError> {
        let mut c = Check::new(mode);
        let details = c.customer_details(
            CustomerDetailsInput { name: self.name, email: self.email, country: self.country, phone: self.phone },
            "",
        );
        let reference_id = c.text(self.reference_id, "reference_id", false).unwrap_or_default();
        let metadata = c.metadata(self.metadata);
        let Some(details) = details else {
            return Err(ApiError::invalid(c.errors));
        };
        c.finish(NewCustomer { details, reference_id, metadata })
    }
}

/// Checks one webhook URL field on its own (for requests that map failures to their own codes).
pub fn url_field(v: Option<String>, field: &str, mode: Mode) -> Result<Option<String>, FieldError> {
    let mut c = Check::new(mode);
    let out = c.url(v, field, true);
    match c.errors.pop() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Checks a `metadata` field on its own.
pub fn metadata_field(v: Option<Value>) -> Result<Option<Map<String, Value>>, FieldError> {
    let mut c = Check::new(Mode::Test);
    let out = c.metadata(v);
    match c.errors.pop() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
