//! Customers: the people who pay, as the merchant describes them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{IdKind, Timestamp};

/// A phone number as given in `customer_details` (any country; not necessarily an OVO wallet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactPhone {
    pub calling_code: String,
    pub number: String,
}

/// `customer_details` on payins and attempts: who is paying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerDetails {
    pub country: String,
    pub email: String,
    pub name: String,
    pub phone: Option<ContactPhone>,
}

/// [`is_plausible_email`] as a regular expression, for the API's document (which also allows the
/// surrounding whitespace the API trims): a local part and a dotted domain, neither holding `@`,
/// whitespace or a control character.
pub const EMAIL_PATTERN: &str = concat!(
    "^\\s*[^@\\s\\x00-\\x1f\\x7f-\\x9f]+@",
    "[^@.\\s\\x00-\\x1f\\x7f-\\x9f][^@\\s\\x00-\\x1f\\x7f-\\x9f]*\\.",
    "[^@\\s\\x00-\\x1f\\x7f-\\x9f]*[^@.\\s\\x00-\\x1f\\x7f-\\x9f]\\s*$",
);

/// Checks an e-mail address's shape: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.chars().count() <= 254
}

/// Checks an ISO 3166-1 alpha-2 country code's shape and upper-cases it.
pub fn parse_country(s: &str) -> Option<String> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())).then(|| s.to_ascii_uppercase())
}

/// A stored customer (`cus_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub country: String,
    pub created_at: Timestamp,
    pub email: String,
    pub id: String,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    pub name: String,
    pub object: String,
    pub phone: Option<ContactPhone>,
    pub reference_id: String,
}

impl Customer {
    pub fn new(
        details: &CustomerDetails,
        reference_id: String,
        metadata: Option<Map<String, Value>>,
        now: Timestamp,
    ) -> Customer {
        Customer {
            country: details.country.clone(),
            created_at: now,
            email: details.email.clone(),
            id: IdKind::Customer.generate(),
            metadata,
            name: details.name.clone(),
            object: "customer".into(),
            phone: details.phone.clone(),
            reference_id,
        }
    }

    pub fn details(&self) -> CustomerDetails {
        CustomerDetails {
            country: self.country.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            phone: self.phone.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(is_plausible_email("andrea@example.com"));
        for bad in ["", "andrea", "@example.com", "andrea@", "andrea@example", "a b@example.com", "a@b@c.com"] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn country_codes() {
        assert_eq!(parse_country("id").as_deref(), Some("ID"));
        assert_eq!(parse_country("IDN"), None);
        assert_eq!(parse_country("1D"), None);
    }
}
