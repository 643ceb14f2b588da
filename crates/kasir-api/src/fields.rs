//! The parts request bodies share, as they arrive, and the checks that turn them into domain types.
//! Every problem is reported with the field's JSON path; all of a request's problems are reported at
//! once. Each resource's own request types live beside its handlers in `v3/`.

use kasir_domain::customer::{is_plausible_email, parse_country};
use kasir_domain::method::unsupported;
use kasir_domain::{
    codes, Amount, ContactPhone, Currency, CustomerDetails, DomainError, FieldError, Mode, PayinFields,
    PaymentMethodDetails, PaymentMethodType, Phone, PhoneError,
};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use utoipa::ToSchema;

use crate::ApiError;

const MAX_TEXT: usize = 1024;
pub(crate) const MAX_METADATA_KEYS: usize = 50;
pub(crate) const MAX_METADATA_KEY_LEN: usize = 40;
pub(crate) const MAX_METADATA_BYTES: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PhoneInput {
    /// The country calling code, `62` for Indonesia. Also read as `country_code` (Tazapay's plugin's name).
    #[serde(alias = "country_code")]
    #[schema(required = true, nullable = false, pattern = "^\\s*\\+?[0-9]{1,4}\\s*$", example = "62")]
    pub calling_code: Option<String>,
    #[schema(required = true, nullable = false, example = "81234567890")]
    pub number: Option<String>,
}

/// Declares a request type holding a customer's details (name, e-mail, country, phone) beside its own
/// fields, which `details()` takes out. The fields sit at the top level of the JSON, so a wrong type is
/// reported at its own path (`#[serde(flatten)]` would report it at `body`).
macro_rules! customer_details {
    ($(#[$meta:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            #[schema(required = true, nullable = false, max_length = 1024, pattern = "\\S", example = "Andrea Lark")]
            pub name: Option<String>,
            #[schema(required = true, nullable = false, schema_with = $crate::openapi::email_schema)]
            pub email: Option<String>,
            /// ISO 3166-1 alpha-2.
            #[schema(required = true, nullable = false, pattern = "^\\s*[A-Za-z]{2}\\s*$", example = "ID")]
            pub country: Option<String>,
            pub phone: Option<$crate::fields::PhoneInput>,
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn details(&mut self) -> $crate::fields::CustomerDetailsInput {
                $crate::fields::CustomerDetailsInput {
                    name: self.name.take(),
                    email: self.email.take(),
                    country: self.country.take(),
                    phone: self.phone.take(),
                }
            }
        }
    };
}
pub(crate) use customer_details;

customer_details! {
    /// A customer's details, as a payin carries them.
    CustomerDetailsInput {}
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OvoInput {
    #[schema(required = true, nullable = false)]
    pub phone: Option<PhoneInput>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PaymentMethodInput {
    /// The method: `ovo_idr`.
    #[serde(rename = "type")]
    #[schema(required = true, nullable = false, value_type = Option<PaymentMethodType>)]
    pub kind: Option<String>,
    /// The method's details, under its name.
    #[schema(required = true, nullable = false)]
    pub ovo_idr: Option<OvoInput>,
}

/// Collects field errors while parsing a request.
pub(crate) struct Check {
    pub(crate) errors: Vec<FieldError>,
    mode: Mode,
}

impl Check {
    pub(crate) fn new(mode: Mode) -> Self {
        Check { errors: Vec::new(), mode }
    }

    pub(crate) fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    /// Keeps the field errors of a domain rule's refusal.
    pub(crate) fn rule(&mut self, r: Result<(), DomainError>) -> bool {
        match r {
            Ok(()) => true,
            Err(DomainError::Invalid(mut e)) => {
                self.errors.append(&mut e);
                false
            }
            Err(DomainError::NotFound(f) | DomainError::Conflict(f)) => {
                self.errors.push(f);
                false
            }
        }
    }

    /// The value, or every problem found.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }

    /// `invoice_currency` (required): a currency Kasir collects, in any letter case.
    pub(crate) fn currency(&mut self, v: Option<String>) -> Option<Currency> {
        let Some(code) = v else {
            self.push(FieldError::required("invoice_currency"));
            return None;
        };
        let cur = Currency::parse(code.trim());
        if cur.is_none() {
            let collected: Vec<_> = Currency::ALL.iter().map(|c| c.code()).collect();
            self.push(FieldError::new(
                codes::UNSUPPORTED_CURRENCY,
                format!("invoice_currency {code:?} is not supported; Kasir collects {}", collected.join(", ")),
                "invoice_currency",
            ));
        }
        cur
    }

    /// `amount` (required): minor units, whole units where `currency` has no minor part in use.
    pub(crate) fn amount(&mut self, v: Option<Number>, currency: Option<Currency>) -> Option<Amount> {
        let Some(n) = v else {
            self.push(FieldError::required("amount"));
            return None;
        };
        match Amount::from_json(&n) {
            Ok(a) => match currency {
                Some(cur) if !self.rule(cur.check_whole_units(a.minor())) => None,
                _ => Some(a),
            },
            Err(e) => {
                self.push(FieldError::new(codes::INVALID_AMOUNT, format!("amount {e}"), "amount"));
                None
            }
        }
    }

    /// A list of payment method names (`payment_methods`), each one Kasir charges.
    pub(crate) fn methods(&mut self, v: Option<&[String]>, field: &str) -> Option<Vec<PaymentMethodType>> {
        let mut out = Vec::new();
        for (i, m) in v?.iter().enumerate() {
            match PaymentMethodType::parse(m) {
                Some(t) => out.push(t),
                None => self.push(unsupported(m, format!("{field}[{i}]"))),
            }
        }
        Some(out)
    }

    pub(crate) fn text(&mut self, v: Option<String>, field: &str, required: bool) -> Option<String> {
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

    pub(crate) fn url(&mut self, v: Option<String>, field: &str, webhook: bool) -> Option<String> {
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
            ("http", Mode::Test) => true,
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

    pub(crate) fn object(&mut self, v: Option<Value>, field: &str) -> Option<Value> {
        match v {
            None => None,
            Some(v @ Value::Object(_)) => Some(v),
            Some(_) => {
                self.push(FieldError::new(codes::BAD_JSON, format!("{field} must be a JSON object"), field));
                None
            }
        }
    }

    /// A list whose every element must be a JSON object (`items`, `transaction_documents`).
    pub(crate) fn objects(&mut self, list: Option<&[Value]>, field: &str) {
        if let Some(i) = list.unwrap_or_default().iter().position(|v| !v.is_object()) {
            self.push(FieldError::new(
                codes::BAD_JSON,
                format!("{field}[{i}] must be a JSON object"),
                format!("{field}[{i}]"),
            ));
        }
    }

    pub(crate) fn metadata(&mut self, v: Option<Value>) -> Option<Map<String, Value>> {
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

    pub(crate) fn contact_phone(&mut self, p: PhoneInput, field: &str) -> Option<ContactPhone> {
        let cc = self.text(p.calling_code, &format!("{field}.calling_code"), true);
        let number = self.text(p.number, &format!("{field}.number"), true);
        let (cc, number) = (cc?, number?);
        let cc_digits = cc.trim().trim_start_matches('+');
        if cc_digits.is_empty() || cc_digits.len() > 4 || !cc_digits.bytes().all(|b| b.is_ascii_digit()) {
            self.push(FieldError::invalid(&format!("{field}.calling_code"), "must be 1 to 4 digits, e.g. 62"));
            return None;
        }
        // A number written internationally (`+62 812-3456-7890`, as a shop's billing phone often is)
        // keeps its national part.
        let trimmed = number.trim();
        let national = match trimmed.strip_prefix('+') {
            Some(intl) => intl.trim_start().strip_prefix(cc_digits).unwrap_or(intl),
            None => trimmed,
        };
        let digits: String = national.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        if !(4..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.push(FieldError::invalid(&format!("{field}.number"), "must be 4 to 15 digits"));
            return None;
        }
        Some(ContactPhone { calling_code: cc_digits.to_string(), number: digits })
    }

    pub(crate) fn customer_details(&mut self, c: CustomerDetailsInput, field: &str) -> Option<CustomerDetails> {
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

    pub(crate) fn payment_method(&mut self, p: Option<PaymentMethodInput>) -> Option<PaymentMethodDetails> {
        const F: &str = "payment_method_details";
        let Some(p) = p else {
            self.push(FieldError::required(F));
            return None;
        };
        let kind = self.text(p.kind, &format!("{F}.type"), true)?;
        match PaymentMethodType::parse(&kind) {
            Some(PaymentMethodType::OvoIdr) => {}
            None => {
                self.push(unsupported(&kind, format!("{F}.type")));
                return None;
            }
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
        match Phone::parse(&cc, &number, self.mode) {
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

    pub(crate) fn customer_ref(&mut self, v: Option<String>) -> Option<String> {
        self.text(v, "customer", false).filter(|s| !s.is_empty())
    }
}

/// The fields create, confirm and update share, as received.
pub(crate) struct Shared {
    pub(crate) customer_details: Option<CustomerDetailsInput>,
    pub(crate) success_url: Option<String>,
    pub(crate) cancel_url: Option<String>,
    pub(crate) shipping_details: Option<Value>,
    pub(crate) billing_details: Option<Value>,
    pub(crate) metadata: Option<Value>,
    pub(crate) reference_id: Option<String>,
    pub(crate) statement_descriptor: Option<String>,
}

/// Declares a payin request type: its own fields, then the ones create, confirm and update share
/// ([`Shared`]), which `shared()` takes out.
macro_rules! payin_request {
    ($(#[$meta:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
            pub customer_details: Option<$crate::fields::CustomerDetailsInput>,
            #[schema(max_length = 1024)]
            pub success_url: Option<String>,
            #[schema(max_length = 1024)]
            pub cancel_url: Option<String>,
            #[schema(value_type = Option<Object>)]
            pub shipping_details: Option<serde_json::Value>,
            #[schema(value_type = Option<Object>)]
            pub billing_details: Option<serde_json::Value>,
            #[schema(schema_with = $crate::openapi::metadata_schema)]
            pub metadata: Option<serde_json::Value>,
            #[schema(max_length = 1024)]
            pub reference_id: Option<String>,
            #[schema(max_length = 1024)]
            pub statement_descriptor: Option<String>,
        }

        impl $name {
            fn shared(&mut self) -> $crate::fields::Shared {
                $crate::fields::Shared {
                    customer_details: self.customer_details.take(),
                    success_url: self.success_url.take(),
                    cancel_url: self.cancel_url.take(),
                    shipping_details: self.shipping_details.take(),
                    billing_details: self.billing_details.take(),
                    metadata: self.metadata.take(),
                    reference_id: self.reference_id.take(),
                    statement_descriptor: self.statement_descriptor.take(),
                }
            }
        }
    };
}
pub(crate) use payin_request;

pub(crate) fn confirm_fields(c: &mut Check, f: Shared) -> PayinFields {
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

/// Checks one webhook URL field on its own (for requests that map failures to their own codes).
pub(crate) fn url_field(v: Option<String>, field: &str, mode: Mode) -> Result<Option<String>, FieldError> {
    let mut c = Check::new(mode);
    let out = c.url(v, field, true);
    match c.errors.pop() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Checks a `metadata` field on its own.
pub(crate) fn metadata_field(v: Option<Value>) -> Result<Option<Map<String, Value>>, FieldError> {
    let mut c = Check::new(Mode::Test);
    let out = c.metadata(v);
    match c.errors.pop() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
