//! What a transaction offers, one small trait per aggregate; [`Tx`] is all of them. Writes and reads
//! share the traits; the backend decides locking. Every method works on the caller's [`Scope`]: an
//! object of another account or mode does not exist.

use std::time::Duration;

use kasir_domain::{
    Checkout, CheckoutStatus, Customer, Delivery, Event, EventSwitches, Payin, PayinStatus, PaymentAttempt, Refund,
    Timestamp, WebhookEndpoint,
};

use crate::{
    AccountRecord, AuditRecord, CreatedRange, EventFilter, IdemRecord, Job, KeyRecord, Listed, PageRequest,
    PayinSearch, Result, Scope, SessionRecord, StreamCursor, StreamStart, StreamedEvent, UserRecord,
};

/// Payins.
pub trait PayinRecords {
    /// In a write transaction, also locks the payin until commit (PostgreSQL: `FOR UPDATE`; SQLite has
    /// one writer). Changes to a payin's attempts and refunds take this lock first.
    fn payin(&mut self, scope: &Scope, id: &str) -> Result<Option<Payin>>;
    /// The payin's stored JSON, exactly the wire object, without decoding it.
    fn payin_json(&mut self, scope: &Scope, id: &str) -> Result<Option<String>>;
    /// The payin with this id in whichever scope holds it, and that scope: for a page reached by the
    /// payin's `client_token`, which names the payin but no account.
    fn payin_anywhere(&mut self, id: &str) -> Result<Option<(Scope, Payin)>>;
    fn insert_payin(&mut self, scope: &Scope, payin: &Payin) -> Result<()>;
    fn update_payin(&mut self, payin: &Payin) -> Result<()>;
    /// `None` when `starting_after` names no payin of this scope.
    fn list_payins(&mut self, scope: &Scope, status: Option<PayinStatus>, page: &PageRequest) -> Listed<Payin>;
}

/// Payment attempts (part of their payin's aggregate: change them under the payin's lock).
pub trait AttemptRecords {
    fn attempt(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentAttempt>>;
    /// A conflict when the payin already has a live attempt.
    fn insert_attempt(&mut self, scope: &Scope, attempt: &PaymentAttempt) -> Result<()>;
    fn update_attempt(&mut self, attempt: &PaymentAttempt) -> Result<()>;
    /// The payin's attempts, oldest first.
    fn attempts_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<PaymentAttempt>>;
}

/// Checkouts (each part of its payin's aggregate: change one under the payin's lock).
pub trait CheckoutRecords {
    fn checkout(&mut self, scope: &Scope, id: &str) -> Result<Option<Checkout>>;
    fn checkout_of_payin(&mut self, scope: &Scope, payin_id: &str) -> Result<Option<Checkout>>;
    /// The checkout whose page token this is, in whichever scope holds it, and that scope.
    fn checkout_by_token(&mut self, token: &str) -> Result<Option<(Scope, Checkout)>>;
    fn insert_checkout(&mut self, scope: &Scope, checkout: &Checkout) -> Result<()>;
    fn update_checkout(&mut self, checkout: &Checkout) -> Result<()>;
    /// `None` when `starting_after` names no checkout of this scope.
    fn list_checkouts(&mut self, scope: &Scope, status: Option<CheckoutStatus>, page: &PageRequest)
        -> Listed<Checkout>;
}

pub trait CustomerRecords {
    fn customer(&mut self, scope: &Scope, id: &str) -> Result<Option<Customer>>;
    fn insert_customer(&mut self, scope: &Scope, customer: &Customer) -> Result<()>;
}

/// Events, and the tries at delivering them.
pub trait EventRecords {
    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<()>;
    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>>;
    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>>;
    /// The event, its scope and its stored JSON: exactly the bytes a webhook carries.
    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>>;
    /// `None` when `starting_after` names no event of this scope.
    fn list_events(&mut self, scope: &Scope, filter: &EventFilter<'_>, page: &PageRequest) -> Listed<Event>;
    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<()>;
    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>>;
    /// Where a stream starts now: after every event committed before now.
    fn stream_start(&mut self) -> Result<StreamStart>;
    /// The transactions a stream has passed: events of transactions below this are final (PostgreSQL:
    /// the snapshot's xmin; SQLite: every committed event).
    fn stream_horizon(&mut self) -> Result<i64>;
    /// The stream position of an event of the scope, to resume after it.
    fn stream_position(&mut self, scope: &Scope, event_id: &str) -> Result<Option<StreamCursor>>;
    /// Up to `limit` of the scope's events after `cursor`, in stream order, of transactions that have
    /// all ended: no event a later read finds can come before them.
    fn stream_after(&mut self, scope: &Scope, cursor: StreamCursor, limit: usize) -> Result<Vec<StreamedEvent>>;
}

/// Accounts and their API keys.
pub trait AccountRecords {
    fn insert_account(&mut self, id: &str, name: &str, now: Timestamp) -> Result<()>;
    fn first_account(&mut self) -> Result<Option<String>>;
    fn account(&mut self, id: &str) -> Result<Option<AccountRecord>>;
    /// Every account, oldest first.
    fn accounts(&mut self) -> Result<Vec<AccountRecord>>;
    /// Renames the account; false when there is no such account.
    fn rename_account(&mut self, id: &str, name: &str) -> Result<bool>;
    fn set_webhook_secret(&mut self, id: &str, secret: &str, previous: Option<(&str, Timestamp)>) -> Result<()>;
    /// Sets the account's first signing secret unless it has one; returns whether it did. Of two
    /// transactions that both found none (two processes on PostgreSQL), one sets it and the other
    /// then reads it, so every webhook is signed with the secret the merchant is shown.
    fn init_webhook_secret(&mut self, id: &str, secret: &str) -> Result<bool>;
    fn set_event_types(&mut self, id: &str, types: &EventSwitches) -> Result<()>;

    /// A conflict when the access key exists.
    fn insert_key(&mut self, key: &KeyRecord) -> Result<()>;
    fn key(&mut self, access_key: &str) -> Result<Option<KeyRecord>>;
    /// Revokes a key now; `false` when there is no such key, or it was revoked already.
    fn revoke_key(&mut self, access_key: &str, now: Timestamp) -> Result<bool>;
    fn keys(&mut self) -> Result<Vec<KeyRecord>>;
}

/// `Idempotency-Key` records, per access key.
pub trait IdempotencyRecords {
    fn idem_get(&mut self, access_key: &str, key: &str) -> Result<Option<IdemRecord>>;
    /// Inserts or replaces the record for (access_key, key).
    fn idem_put(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<()>;
    /// Inserts the record unless (access_key, key) exists; returns whether it inserted. Atomic: of two
    /// concurrent claims of one key, exactly one inserts.
    fn idem_insert(&mut self, access_key: &str, key: &str, rec: &IdemRecord) -> Result<bool>;
    /// Releases a claim whose write failed: deletes the record only while it is still that claim
    /// (`running`, with the lease the claim set). A record the write stored as done (its commit went
    /// through though its caller heard an error) stays, to be replayed; so does a later claim that
    /// took the key over.
    fn idem_release(&mut self, access_key: &str, key: &str, lease: Timestamp) -> Result<()>;
    /// Deletes up to `limit` records made before `created_before` (oldest first); returns how many.
    fn idem_sweep(&mut self, created_before: Timestamp, limit: usize) -> Result<usize>;
}

/// Durable work: timers and deliveries, as rows with a due time and a lease.
pub trait JobRecords {
    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<()>;
    /// Takes up to `limit` due, unleased jobs of these kinds, leases them for `lease` and counts the try.
    fn claim_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize, lease: Duration) -> Result<Vec<Job>>;
    /// Removes and returns up to `limit` due, unleased jobs of these kinds, oldest first: for work done
    /// in this same transaction, so they are back if it rolls back.
    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>>;
    /// Inserts a job due `now` and already leased `until` then, its first try counted, and returns its id,
    /// when the backend learns the id without a round trip (SQLite). Otherwise (PostgreSQL, whose
    /// inserts wait to go out together) it schedules the job unleased and returns `None`.
    fn insert_leased_job(&mut self, kind: &str, payload: &str, now: Timestamp, until: Timestamp)
        -> Result<Option<i64>>;
    fn delete_job(&mut self, id: i64) -> Result<()>;
    /// Releases the lease and sets when the job runs next.
    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<()>;
    /// Puts a claimed job back untried: releases the lease, sets when it runs next, and takes back the
    /// try its claim counted.
    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<()>;
    /// Whether a job of these kinds is due and unleased at `now`.
    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool>;
    /// Jobs by state at `now`: (due and waiting, leased by a worker, scheduled for later).
    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64)>;
    /// Of the jobs due and waiting at `now`, per kind: how many, and when the oldest came due.
    fn due_by_kind(&mut self, now: Timestamp) -> Result<Vec<(String, i64, Timestamp)>>;
}

pub trait RefundRecords {
    fn refund(&mut self, scope: &Scope, id: &str) -> Result<Option<Refund>>;
    /// A conflict when the payin already has a refund that is not failed.
    fn insert_refund(&mut self, scope: &Scope, refund: &Refund) -> Result<()>;
    fn update_refund(&mut self, refund: &Refund) -> Result<()>;
    /// Refunds of one payin, oldest first.
    fn refunds_of(&mut self, scope: &Scope, payin_id: &str) -> Result<Vec<Refund>>;
    /// The scope's refunds still pending, oldest first.
    fn pending_refunds(&mut self, scope: &Scope) -> Result<Vec<Refund>>;
    /// `None` when `starting_after` names no refund of this scope.
    fn list_refunds(
        &mut self,
        scope: &Scope,
        payin_id: Option<&str>,
        created: &CreatedRange,
        page: &PageRequest,
    ) -> Listed<Refund>;
}

/// Numbers handed out once each: the next of a named sequence (1 first), never given again, across
/// processes and restarts, once the transaction commits.
pub trait SequenceRecords {
    fn next_in_sequence(&mut self, name: &str) -> Result<i64>;
}

/// Dashboard users, and the audit log of what changed.
pub trait UserRecords {
    /// A `Conflict` when the email is taken.
    fn insert_user(&mut self, user: &UserRecord) -> Result<()>;
    fn update_user(&mut self, user: &UserRecord) -> Result<()>;
    fn user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>>;
    /// Every user, oldest first.
    fn users(&mut self) -> Result<Vec<UserRecord>>;
    fn insert_audit(&mut self, entry: &AuditRecord) -> Result<()>;
    /// An account's audit log, newest first, at most `limit` lines.
    fn audit_of(&mut self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>>;
    fn user(&mut self, id: &str) -> Result<Option<UserRecord>>;
    fn insert_session(&mut self, session: &SessionRecord) -> Result<()>;
    fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>>;
    fn update_session(&mut self, session: &SessionRecord) -> Result<()>;
    fn delete_session(&mut self, id_hash: &str) -> Result<()>;
    /// Ends every session of a user; returns how many there were.
    fn delete_sessions_of(&mut self, user_id: &str) -> Result<u64>;
    /// Every session of a user, ended or not.
    fn sessions_of(&mut self, user_id: &str) -> Result<Vec<SessionRecord>>;
}

/// What the dashboard searches and counts: reads over many objects, none of them on a hot path.
pub trait ReportRecords {
    /// Payins that match `search`, newest first; `None` when `starting_after` names no payin of this scope.
    fn search_payins(&mut self, scope: &Scope, search: &PayinSearch, page: &PageRequest) -> Listed<Payin>;
    /// Payins made since `since`, per day at `offset_secs` from UTC: (day number since 1970, payins,
    /// succeeded, amount succeeded in minor units), days without payins left out.
    fn daily_payins(&mut self, scope: &Scope, since: Timestamp, offset_secs: i64) -> Result<Vec<(i64, i64, i64, i64)>>;
    /// Refunds made since `since`.
    fn refunds_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64>;
    /// Delivery tries of the scope made since `since` that failed.
    fn failed_deliveries_since(&mut self, scope: &Scope, since: Timestamp) -> Result<i64>;
    /// The latest `limit` delivery tries of the scope, newest first.
    fn recent_deliveries(&mut self, scope: &Scope, limit: usize) -> Result<Vec<Delivery>>;
}

/// Account-level webhook endpoints.
pub trait EndpointRecords {
    fn insert_endpoint(&mut self, scope: &Scope, endpoint: &WebhookEndpoint) -> Result<()>;
    fn endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<WebhookEndpoint>>;
    fn update_endpoint(&mut self, scope: &Scope, endpoint: &WebhookEndpoint) -> Result<()>;
    /// Whether there was such an endpoint.
    fn delete_endpoint(&mut self, scope: &Scope, id: &str) -> Result<bool>;
    /// The scope's endpoints, oldest first.
    fn endpoints(&mut self, scope: &Scope) -> Result<Vec<WebhookEndpoint>>;
    /// What decides where the scope's events go, in one read: the account's event-type switches (the
    /// defaults when there is no such account) and the scope's endpoints (in no set order).
    fn delivery_rules(&mut self, scope: &Scope) -> Result<(EventSwitches, Vec<WebhookEndpoint>)>;
}

/// One transaction: every aggregate's records, and what the transaction knows of itself.
pub trait Tx:
    PayinRecords
    + AttemptRecords
    + CustomerRecords
    + EventRecords
    + AccountRecords
    + IdempotencyRecords
    + JobRecords
    + RefundRecords
    + CheckoutRecords
    + SequenceRecords
    + UserRecords
    + EndpointRecords
    + ReportRecords
{
    /// Whether no other transaction can change data while this one runs (SQLite's single writer), so
    /// a row read once needs no second read under a lock.
    fn runs_alone(&self) -> bool {
        false
    }

    /// A count of the writes this transaction has made, which only grows: a step that failed with it
    /// unchanged changed nothing, so the transaction can go on without it.
    fn writes(&self) -> u64;

    /// Row counts of every table, for operators and for tests that check nothing was written.
    fn row_counts(&mut self) -> Result<Vec<(&'static str, i64)>>;

    /// The schema version the database records (the number of migrations applied).
    fn schema_version(&mut self) -> Result<usize>;
}
