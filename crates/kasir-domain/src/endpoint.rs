//! Account-level webhook endpoints: where an account's events go besides each object's own
//! `webhook_url`, filtered by event type. Every event is delivered to its object's `webhook_url` (when
//! set) and to each enabled endpoint whose filter takes it, each its own delivery of the same event.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{EventType, IdKind, Timestamp};

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

impl EndpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "enabled",
            EndpointStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<EndpointStatus> {
        match s {
            "enabled" => Some(EndpointStatus::Enabled),
            "disabled" => Some(EndpointStatus::Disabled),
            _ => None,
        }
    }
}

/// A webhook endpoint of one account and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    /// `whe_…`
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: String,
    pub url: String,
    /// The event types sent here; `["*"]` for every type.
    pub enabled_events: Vec<String>,
    pub status: EndpointStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The filter that takes every event type.
pub const ALL_EVENTS: &str = "*";

impl WebhookEndpoint {
    pub fn new(url: String, enabled_events: Vec<String>, status: EndpointStatus, now: Timestamp) -> WebhookEndpoint {
        WebhookEndpoint {
            id: IdKind::WebhookEndpoint.generate(),
            object: "webhook_endpoint".into(),
            url,
            enabled_events,
            status,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether an event of this type goes here now.
    pub fn takes(&self, kind: EventType) -> bool {
        self.status == EndpointStatus::Enabled
            && self.enabled_events.iter().any(|e| e == ALL_EVENTS || e == kind.as_str())
    }
}

/// The filter's entries that are neither `*` nor an event type, for the error that names them.
pub fn unknown_events(events: &[String]) -> Vec<&str> {
    events.iter().map(String::as_str).filter(|e| *e != ALL_EVENTS && EventType::parse(e).is_none()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_takes_the_types_of_its_filter_while_enabled() {
        let now = Timestamp::from_micros(0);
        let mut e =
            WebhookEndpoint::new("https://x".into(), vec!["payin.succeeded".into()], EndpointStatus::Enabled, now);
        assert!(IdKind::WebhookEndpoint.matches(&e.id));
        assert!(e.takes(EventType::PayinSucceeded));
        assert!(!e.takes(EventType::RefundSucceeded));
        e.enabled_events = vec![ALL_EVENTS.into()];
        assert!(e.takes(EventType::RefundSucceeded));
        e.status = EndpointStatus::Disabled;
        assert!(!e.takes(EventType::PayinSucceeded));
        assert_eq!(unknown_events(&["*".into(), "payin.paid".into()]), vec!["payin.paid"]);
    }
}
