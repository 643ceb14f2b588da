//! The records the store keeps beside the domain's objects: keys, accounts, idempotency claims, jobs,
//! and pages of lists.

use kasir_domain::{EventSwitches, Mode, Timestamp};

/// An API key as stored: the secret only as a hash.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub access_key: String,
    pub secret_hash: String,
    pub account_id: String,
    pub mode: Mode,
    pub created_at: Timestamp,
    /// When it was revoked: refused from then on.
    pub revoked_at: Option<Timestamp>,
}

/// A job claimed by a worker: it holds a lease until done, rescheduled or the lease lapses.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Tries so far, this one included.
    pub tries: u32,
    pub run_at: Timestamp,
}

/// An account's webhook settings.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: String,
    /// The merchant's name, as its customers see it on the hosted pages.
    pub name: String,
    pub created_at: Timestamp,
    pub webhook_secret: Option<String>,
    pub previous_webhook_secret: Option<(String, Timestamp)>,
    pub event_types: EventSwitches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdemState {
    Running,
    Done,
}

impl IdemState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IdemState::Running => "running",
            IdemState::Done => "done",
        }
    }

    pub(crate) fn parse(s: &str) -> IdemState {
        if s == "done" {
            IdemState::Done
        } else {
            IdemState::Running
        }
    }
}

/// An `Idempotency-Key`'s record: the request it guards, and once done the answer to replay.
#[derive(Debug, Clone)]
pub struct IdemRecord {
    pub request_hash: String,
    pub state: IdemState,
    pub response_status: u16,
    pub response_body: Vec<u8>,
    pub created_at: Timestamp,
    pub locked_until: Timestamp,
}

/// Which page of a newest-first list: at most `limit` objects older than `starting_after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: usize,
    pub starting_after: Option<String>,
}

/// Which events a list shows: about one object, of one type, or all.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter<'a> {
    pub object_id: Option<&'a str>,
    pub kind: Option<kasir_domain::EventType>,
}

/// One page of a newest-first list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page from up to `limit + 1` rows: the extra row only says that more follow.
    pub(crate) fn of(mut data: Vec<T>, limit: usize) -> Page<T> {
        let has_more = data.len() > limit;
        data.truncate(limit);
        Page { data, has_more }
    }
}

/// A list's page, or `None` when its `starting_after` names nothing of the scope.
pub type Listed<T> = crate::Result<Option<Page<T>>>;

/// Every table, in the order `row_counts` reports them.
pub const TABLES: [&str; 16] = [
    "accounts",
    "api_keys",
    "payins",
    "payment_attempts",
    "customers",
    "events",
    "idempotency_keys",
    "jobs",
    "deliveries",
    "refunds",
    "checkouts",
    "sequences",
    "dashboard_users",
    "audit_log",
    "dashboard_sessions",
    "webhook_endpoints",
];

/// A dashboard user as stored: the password only as an argon2id hash (a PHC string).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub account_id: String,
    /// Lower case; unique across every account.
    pub email: String,
    /// `owner`, `developer` or `support`.
    pub role: String,
    pub password_hash: String,
    /// Set for a one-time password: it must be changed at the first sign-in.
    pub must_change_password: bool,
    pub disabled: bool,
    /// Failed sign-ins within the current window, and when the first of them was.
    pub failed_logins: u32,
    pub first_failed_at: Option<Timestamp>,
    /// Signed-in is refused until then.
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    /// The TOTP secret (base32) once two-factor sign-in is on.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// A secret being set up, until a code from it is entered.
    #[serde(default)]
    pub totp_pending: Option<String>,
    /// The last TOTP time step accepted: a code is taken once.
    #[serde(default)]
    pub totp_last_step: i64,
    /// The unused recovery codes, as SHA-256 hashes.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub account_id: String,
    /// Who: a user's email, or `cli` for the `kasir` command.
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub at: Timestamp,
}

/// A dashboard session: found by the SHA-256 of its cookie's token (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: Timestamp,
    /// The last request: a session idle too long has ended.
    pub seen_at: Timestamp,
    /// The token every form of this session carries back.
    pub csrf: String,
    /// Shows live data (the switch); test data otherwise.
    pub live: bool,
    /// Signed in with the password, waiting for the second factor: nothing but that form is open.
    pub awaiting_totp: bool,
}

/// A dashboard search of payins: every part that is set must match.
#[derive(Debug, Clone, Default)]
pub struct PayinSearch {
    pub status: Option<kasir_domain::PayinStatus>,
    /// A payin id, a `reference_id` or a customer email (exactly, any case).
    pub text: Option<String>,
    /// A phone number's digits after the country code or leading 0 (`81234567890`): found in the
    /// payin's customer phone or its payment method's.
    pub phone_digits: Option<String>,
    /// Made at or after.
    pub from: Option<Timestamp>,
    /// Made before.
    pub to: Option<Timestamp>,
}

/// A place in a scope's event stream: events come in `(tx, seq)` order, `tx` being the transaction that
/// wrote them (always 0 on SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamCursor {
    pub tx: i64,
    pub seq: i64,
}

/// An event as a stream sends it.
#[derive(Debug, Clone)]
pub struct StreamedEvent {
    pub at: StreamCursor,
    pub id: String,
    pub kind: String,
    /// The event's stored JSON: exactly a webhook's body.
    pub data: String,
}

/// Where a stream that starts now begins: after `cursor`, leaving out the events of transactions that
/// had already committed when it started though they sort after it (on PostgreSQL, those between the
/// snapshot's xmin and xmax that were not running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStart {
    pub cursor: StreamCursor,
    /// Transactions below this had ended when the stream started, except `running`.
    pub xmax: i64,
    pub running: Vec<i64>,
}

impl StreamStart {
    /// Whether an event at `at` was committed before the stream started.
    pub fn before(&self, at: StreamCursor) -> bool {
        at.tx < self.xmax && !self.running.contains(&at.tx)
    }

    /// The start as a stream's first `id:`, so that a client that reconnects before any event resumes
    /// from exactly here: `pos_{tx}_{seq}_{xmax}_{running, -separated}`.
    pub fn token(&self) -> String {
        let running: Vec<String> = self.running.iter().map(i64::to_string).collect();
        format!("pos_{}_{}_{}_{}", self.cursor.tx, self.cursor.seq, self.xmax, running.join("-"))
    }

    /// A start from its [`StreamStart::token`].
    pub fn parse(token: &str) -> Option<StreamStart> {
        let mut parts = token.strip_prefix("pos_")?.split('_');
        let (tx, seq, xmax) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        let running = match parts.next()? {
            "" => Vec::new(),
            r => r.split('-').map(|x| x.parse().ok()).collect::<Option<Vec<i64>>>()?,
        };
        if parts.next().is_some() || running.len() > 10_000 {
            return None;
        }
        Some(StreamStart { cursor: StreamCursor { tx, seq }, xmax, running })
    }
}

/// Which objects a list shows by when they were made: at or after `from`, before `to`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatedRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl CreatedRange {
    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_start_reads_back_from_its_token() {
        let s = StreamStart { cursor: StreamCursor { tx: 41, seq: i64::MAX }, xmax: 45, running: vec![42, 44] };
        assert_eq!(s.token(), format!("pos_41_{}_45_42-44", i64::MAX));
        assert_eq!(StreamStart::parse(&s.token()), Some(s.clone()));
        let none = StreamStart { running: vec![], ..s };
        assert_eq!(StreamStart::parse(&none.token()), Some(none));
        for bad in ["pos_", "pos_1_2", "pos_a_2_3_", "pos_1_2_3_x", "pos_1_2_3__extra", "evt_1"] {
            assert_eq!(StreamStart::parse(bad), None, "{bad}");
        }
        assert!(s.before(StreamCursor { tx: 43, seq: 1 }) && !s.before(StreamCursor { tx: 42, seq: 1 }));
    }
}
