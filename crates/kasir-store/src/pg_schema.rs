//! PostgreSQL migrations, versioned in `kasir_schema`. The same tables as SQLite's, in PostgreSQL's types.

pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE accounts (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    webhook_secret          TEXT,
    previous_webhook_secret TEXT,
    previous_secret_until   BIGINT,
    event_types             TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE api_keys (
    access_key   TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    created_at   BIGINT NOT NULL
);
CREATE TABLE payins (
    seq         BIGSERIAL PRIMARY KEY,
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
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    payin_id    TEXT NOT NULL REFERENCES payins(id),
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX attempts_by_payin ON payment_attempts (payin_id, seq);
CREATE UNIQUE INDEX one_live_attempt_per_payin ON payment_attempts (payin_id)
    WHERE status IN ('requires_action', 'processing');
CREATE TABLE customers (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
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
    response_body    BYTEA,
    created_at       BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL,
    PRIMARY KEY (access_key, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys (created_at);
CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    run_at        BIGINT NOT NULL,
    tries         INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (kind, run_at);
CREATE TABLE deliveries (
    seq           BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    mode          TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX deliveries_by_event ON deliveries (event_id, seq);
CREATE TABLE refunds (
    seq         BIGSERIAL PRIMARY KEY,
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
CREATE UNIQUE INDEX one_live_refund_per_payin ON refunds (payin_id) WHERE status IN ('pending', 'succeeded');
"#];
