//! Account-level webhook endpoints: create, change, delete, each written to the account's audit log.
//! Where events go is the outbox's business ([`crate::outbox::emit`]); this is only their upkeep.

use kasir_domain::endpoint::unknown_events;
use kasir_domain::{codes, DomainError, EndpointStatus, FieldError, Timestamp, WebhookEndpoint};
use kasir_store::{AuditRecord, Scope, Tx};

use crate::{AppError, Ctx};

/// The most endpoints one account may have in one mode: each is a delivery of every event it takes.
pub const MAX_ENDPOINTS: usize = 16;

/// An endpoint's settings as given: every part that is set replaces the endpoint's.
#[derive(Debug, Clone, Default)]
pub struct EndpointFields {
    /// Already checked as a webhook URL for the mode.
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub status: Option<EndpointStatus>,
}

fn invalid(message: String, field: &str) -> AppError {
    DomainError::invalid(FieldError::new(codes::INVALID_FIELD, message, field)).into()
}

/// The filter's problems: empty, or naming no event type.
pub fn check_events(events: &[String]) -> Result<(), AppError> {
    if events.is_empty() {
        return Err(invalid("enabled_events must name at least one event type, or \"*\"".into(), "enabled_events"));
    }
    let unknown = unknown_events(events);
    if !unknown.is_empty() {
        return Err(invalid(
            format!("enabled_events has no event type {}; see GET /v3/event for the types", unknown.join(", ")),
            "enabled_events",
        ));
    }
    Ok(())
}

fn audit(
    tx: &mut dyn Tx,
    scope: &Scope,
    actor: &str,
    action: &str,
    e: &WebhookEndpoint,
    now: Timestamp,
) -> Result<(), AppError> {
    tx.insert_audit(&AuditRecord {
        account_id: scope.account_id.clone(),
        actor: actor.into(),
        action: action.into(),
        detail: format!(
            "{} ({}) {} {} [{}]",
            e.id,
            scope.mode.as_str(),
            e.url,
            e.status.as_str(),
            e.enabled_events.join(", ")
        ),
        at: now,
    })?;
    Ok(())
}

fn load(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<WebhookEndpoint, AppError> {
    tx.endpoint(scope, id)?.ok_or_else(|| DomainError::not_found("webhook_endpoint", id, "id").into())
}

/// A new endpoint: `url` and `enabled_events` are required; it is enabled unless `status` says not.
pub fn create(tx: &mut dyn Tx, ctx: &Ctx, f: EndpointFields, actor: &str) -> Result<WebhookEndpoint, AppError> {
    let url = f.url.filter(|u| !u.is_empty()).ok_or_else(|| {
        AppError::from(DomainError::invalid(FieldError::new(codes::REQUIRED_FIELD, "url is required", "url")))
    })?;
    let events = f.enabled_events.ok_or_else(|| {
        AppError::from(DomainError::invalid(FieldError::new(
            codes::REQUIRED_FIELD,
            "enabled_events is required (\"*\" for every event type)",
            "enabled_events",
        )))
    })?;
    check_events(&events)?;
    if tx.endpoints(&ctx.scope)?.len() >= MAX_ENDPOINTS {
        return Err(invalid(
            format!("an account has at most {MAX_ENDPOINTS} webhook endpoints in each mode; delete one first"),
            "url",
        ));
    }
    let e = WebhookEndpoint::new(url, events, f.status.unwrap_or(EndpointStatus::Enabled), ctx.now);
    tx.insert_endpoint(&ctx.scope, &e)?;
    audit(tx, &ctx.scope, actor, "webhook_endpoint.created", &e, ctx.now)?;
    Ok(e)
}

/// Changes the parts of an endpoint that `f` sets.
pub fn update(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    f: EndpointFields,
    actor: &str,
) -> Result<WebhookEndpoint, AppError> {
    let mut e = load(tx, &ctx.scope, id)?;
    if let Some(url) = f.url {
        if url.is_empty() {
            return Err(invalid("url must not be empty".into(), "url"));
        }
        e.url = url;
    }
    if let Some(events) = f.enabled_events {
        check_events(&events)?;
        e.enabled_events = events;
    }
    if let Some(s) = f.status {
        e.status = s;
    }
    e.updated_at = ctx.now;
    tx.update_endpoint(&ctx.scope, &e)?;
    audit(tx, &ctx.scope, actor, "webhook_endpoint.updated", &e, ctx.now)?;
    Ok(e)
}

/// Deletes an endpoint: deliveries already scheduled to it still go out.
pub fn delete(tx: &mut dyn Tx, ctx: &Ctx, id: &str, actor: &str) -> Result<WebhookEndpoint, AppError> {
    let e = load(tx, &ctx.scope, id)?;
    tx.delete_endpoint(&ctx.scope, id)?;
    audit(tx, &ctx.scope, actor, "webhook_endpoint.deleted", &e, ctx.now)?;
    Ok(e)
}
