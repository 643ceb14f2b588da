//! The schema, written once for both backends. Each migration runs once, in order, inside one
//! transaction; SQLite records how far a database has come in `PRAGMA user_version`, PostgreSQL in
//! `kasir_schema`. Three words differ between the dialects and are written as placeholders: `{seq}`, a
//! table's own ascending key, `{bytes}`, a binary column, and `{xact}`, the writing transaction's id; a
//! line that begins `{pg}` is PostgreSQL's alone. Every other type is written in the form
//! both read alike (`BIGINT` has integer affinity in SQLite).

/// Objects are stored as their wire JSON (`data`) beside the columns that queries filter and sort on.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE api_keys (
    access_key   TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    created_at   BIGINT NOT NULL
);
CREATE TABLE payins (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX payins_by_account ON payins (account_id, mode, seq);
CREATE INDEX payins_by_status ON payins (account_id, mode, status, seq);
CREATE TABLE payment_attempts (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    payin_id    TEXT NOT NULL REFERENCES payins(id),
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX attempts_by_payin ON payment_attempts (payin_id, seq);
-- One live attempt per payin, enforced by the database rather than by a check-then-act.
CREATE UNIQUE INDEX one_live_attempt_per_payin ON payment_attempts (payin_id)
    WHERE status IN ('requires_action', 'processing');
CREATE TABLE customers (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE events (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    type        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX events_by_object ON events (account_id, mode, object_id, seq);
CREATE INDEX events_by_account ON events (account_id, mode, seq);
CREATE TABLE idempotency_keys (
    access_key       TEXT NOT NULL,
    key              TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'done')),
    response_status  INTEGER,
    response_body    {bytes},
    created_at       BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL,
    PRIMARY KEY (access_key, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys (created_at);
"#,
    r#"
-- Durable timers and work: sandbox outcomes, approval-window expiry, webhook deliveries.
CREATE TABLE jobs (
    id            {seq},
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    run_at        BIGINT NOT NULL,
    tries         INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (kind, run_at);
-- Every try of every webhook delivery.
CREATE TABLE deliveries (
    seq           {seq},
    event_id      TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    mode          TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX deliveries_by_event ON deliveries (event_id, seq);
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT;
ALTER TABLE accounts ADD COLUMN previous_webhook_secret TEXT;
ALTER TABLE accounts ADD COLUMN previous_secret_until BIGINT;
-- Per-account overrides of which event types are sent: {"payin.created": true, ...}.
ALTER TABLE accounts ADD COLUMN event_types TEXT NOT NULL DEFAULT '{}';
"#,
    r#"
CREATE TABLE refunds (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    payin_id    TEXT NOT NULL REFERENCES payins(id),
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX refunds_by_payin ON refunds (payin_id, seq);
CREATE INDEX refunds_by_account ON refunds (account_id, mode, seq);
-- OVO refunds whole payins only: one refund per payin that is not failed, whatever races above it.
CREATE UNIQUE INDEX one_live_refund_per_payin ON refunds (payin_id) WHERE status IN ('pending', 'succeeded');
"#,
    r#"
-- Hosted checkouts: one payin each, found by id, by the payin, and (from the page) by token alone.
CREATE TABLE checkouts (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    token       TEXT NOT NULL UNIQUE,
    payin_id    TEXT NOT NULL UNIQUE REFERENCES payins(id),
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX checkouts_by_account ON checkouts (account_id, mode, seq);
CREATE INDEX checkouts_by_status ON checkouts (account_id, mode, status, seq);
"#,
    r#"
-- Numbers handed out once each, across processes and restarts (a wallet's reference numbers).
CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    last  BIGINT NOT NULL
);
"#,
    r#"
-- The people who sign in to the dashboard (not API keys), each of one account; `doc` is the record.
CREATE TABLE dashboard_users (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    email       TEXT NOT NULL UNIQUE,
    doc         TEXT NOT NULL
);
-- Who changed what, and when: every change made through the dashboard or to its users.
CREATE TABLE audit_log (
    seq         {seq},
    account_id  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX audit_log_by_account ON audit_log (account_id, seq);
"#,
    r#"
-- A revoked key is refused from then on (every process learns of it within a second).
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
"#,
    r#"
-- Dashboard sign-ins, shared by every process: found by the hash of the cookie's token.
CREATE TABLE dashboard_sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);
-- Account-level webhook endpoints: every event also goes to each enabled one whose filter takes it.
CREATE TABLE webhook_endpoints (
    seq         {seq},
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, mode, seq);
"#,
    r#"
-- The transaction that wrote each event (PostgreSQL's transaction id; 0 on SQLite, whose one writer
-- commits in `seq` order), so that an event stream reads only events no running transaction can come
-- before: see docs/decisions/0018-event-stream.md.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT {xact};
-- SQLite's streams read in `seq` order on events_by_account: one index fewer to write per event.
{pg}CREATE INDEX events_stream ON events (account_id, mode, tx, seq);
"#,
    r#"
-- The refunds still pending (a few at any time: the manual-transfer queue reads them), found without
-- reading a scope's every refund.
CREATE INDEX refunds_pending ON refunds (account_id, mode, seq) WHERE status = 'pending';
"#,
];

/// The SQL dialects the schema is written for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A migration in one dialect. A line that begins `{pg}` is PostgreSQL's alone.
pub(crate) fn render(sql: &str, dialect: Dialect) -> String {
    let (seq, bytes, xact) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "0"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA", "(pg_current_xact_id()::text::bigint)"),
    };
    let lines = sql.lines().filter_map(|l| match (l.strip_prefix("{pg}"), dialect) {
        (Some(_), Dialect::Sqlite) => None,
        (Some(pg), Dialect::Postgres) => Some(pg),
        (None, _) => Some(l),
    });
    lines.collect::<Vec<_>>().join("\n").replace("{seq}", seq).replace("{bytes}", bytes).replace("{xact}", xact)
}

/// A version a database records, in this list's numbering, or an error when it is newer than this build.
pub(crate) fn check_version(current: usize) -> Result<usize, crate::StoreError> {
    if current > MIGRATIONS.len() {
        return Err(crate::StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this build knows ({}); upgrade kasir",
            MIGRATIONS.len()
        )));
    }
    Ok(current)
}
