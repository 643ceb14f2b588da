//! Typed failures of the domain's rules: a kind (invalid, not found, conflict) and the Tazapay code of
//! each problem. Which HTTP status a kind answers with is the HTTP layer's choice, not the domain's.

use crate::codes;

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
    /// The request is malformed or breaks a rule about its own fields.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// A referenced object does not exist for this account and mode.
    #[error("{}", .0.message)]
    NotFound(FieldError),
    /// The object is in a state that does not allow this command.
    #[error("{}", .0.message)]
    Conflict(FieldError),
}

impl DomainError {
    pub fn invalid(e: FieldError) -> Self {
        DomainError::Invalid(vec![e])
    }

    /// A refusal for the object's state: `code`, why, and the field at fault.
    pub fn conflict(code: u32, message: impl Into<String>, remarks: &str) -> Self {
        DomainError::Conflict(FieldError::new(code, message, remarks))
    }

    /// A bad value: `code`, why, and the field at fault.
    pub fn rejected(code: u32, message: impl Into<String>, remarks: &str) -> Self {
        DomainError::invalid(FieldError::new(code, message, remarks))
    }

    /// No such `what` with this id (code 105, unless the endpoint documents its own: see [`Self::missing`]).
    pub fn not_found(what: &str, id: &str, remarks: &str) -> Self {
        Self::missing(codes::NOT_FOUND, what, id, remarks)
    }

    pub fn missing(code: u32, what: &str, id: &str, remarks: &str) -> Self {
        DomainError::NotFound(FieldError::new(code, format!("no such {what}: {id}"), remarks))
    }
}

/// An error and every source under it, `: `-separated, for a log line or a recorded try: a client's
/// `Display` alone often says only its outermost layer ("db error", "error sending request").
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
