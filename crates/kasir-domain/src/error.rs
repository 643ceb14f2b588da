//! Typed failures of the domain's rules, each carrying the Tazapay error code it answers with.

/// Error codes of the wire contract (`docs/errors.md` lists them all with their HTTP statuses).
pub mod codes {
    pub const BAD_JSON: u32 = 100;
    pub const INTERNAL: u32 = 101;
    pub const UNAVAILABLE: u32 = 102;
    pub const INVALID_PATH_PARAMETER: u32 = 103;
    pub const INVALID_QUERY_PARAMETER: u32 = 104;
    pub const NOT_FOUND: u32 = 105;
    pub const METHOD_NOT_ALLOWED: u32 = 106;
    pub const INVALID_BASIC_AUTH: u32 = 108;
    pub const EMPTY_BASIC_AUTH: u32 = 109;
    pub const RATE_LIMITED: u32 = 110;
    pub const INVALID_API_KEY: u32 = 111;

    pub const REQUIRED_FIELD: u32 = 1001;
    pub const INVALID_FIELD: u32 = 1002;
    pub const UNSUPPORTED_CURRENCY: u32 = 1003;
    pub const INVALID_PHONE: u32 = 1004;
    pub const AMOUNT_OUTSIDE_LIMITS: u32 = 1005;
    pub const AMOUNT_NOT_WHOLE_UNITS: u32 = 1006;
    pub const UNSUPPORTED_PAYMENT_METHOD: u32 = 1007;
    pub const INVALID_AMOUNT: u32 = 1008;

    pub const IDEMPOTENCY_KEY_INVALID: u32 = 1101;
    pub const IDEMPOTENCY_IN_PROGRESS: u32 = 1102;
    pub const IDEMPOTENCY_BODY_MISMATCH: u32 = 1103;

    pub const PAYIN_INVALID_ID: u32 = 15550;
    pub const PAYIN_NO_LONGER_ACTIVE: u32 = 19626;
    pub const PAYIN_INVALID_STATE: u32 = 19627;
}

/// One entry of the error envelope's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: u32,
    pub message: String,
    pub remarks: String,
}

impl FieldError {
    pub fn new(code: u32, message: impl Into<String>, remarks: impl Into<String>) -> Self {
        FieldError { code, message: message.into(), remarks: remarks.into() }
    }

    pub fn required(field: &str) -> Self {
        FieldError::new(codes::REQUIRED_FIELD, format!("{field} is required"), field)
    }

    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        FieldError::new(codes::INVALID_FIELD, format!("{field} {why}"), field)
    }
}

/// Why the domain refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or breaks a rule about its own fields (HTTP 400).
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// A referenced object does not exist for this account and mode (HTTP 404; code 105 unless the
    /// endpoint documents its own).
    #[error("{message}")]
    NotFound { code: u32, message: String, remarks: String },
    /// The object is in a state that does not allow this command (HTTP 409).
    #[error("{}", .0.message)]
    Conflict(FieldError),
}

impl DomainError {
    pub fn invalid(e: FieldError) -> Self {
        DomainError::Invalid(vec![e])
    }

    pub fn not_found(what: &str, id: &str, remarks: &str) -> Self {
        DomainError::NotFound {
            code: codes::NOT_FOUND,
            message: format!("no such {what}: {id}"),
            remarks: remarks.into(),
        }
    }
}
