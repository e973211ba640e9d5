-- The platform: organisations, API keys, job runs and their documents, runs of both kinds,
-- the transactional outbox, idempotency keys and the consumers' processed-message ledger.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    key_prefix      text NOT NULL,
    key_hash        bytea NOT NULL UNIQUE,
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_organization_idx ON api_keys (organization_id, id);

CREATE TABLE job_runs (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    source            text NOT NULL CHECK (source IN ('rest', 'intake')),
    intake_message_id text,
    document_count    integer NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (organization_id, intake_message_id)
);
CREATE INDEX job_runs_organization_idx ON job_runs (organization_id, id DESC);

CREATE TABLE documents (
    job_run_id   uuid NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    document_id  text NOT NULL,
    filename     text NOT NULL,
    field_values jsonb NOT NULL,
    PRIMARY KEY (job_run_id, position),
    UNIQUE (job_run_id, document_id)
);

CREATE TABLE matching_runs (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    job_run_id      uuid NOT NULL REFERENCES job_runs (id) ON DELETE RESTRICT,
    mode            text NOT NULL CHECK (mode IN ('manual', 'smart')),
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'ai_resolving', 'completed', 'failed', 'cancelled')),
    config_snapshot jsonb NOT NULL,
    rows_total      integer NOT NULL DEFAULT 0,
    rows_processed  integer NOT NULL DEFAULT 0,
    rows_matched    integer NOT NULL DEFAULT 0,
    avg_confidence  double precision,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz
);
CREATE INDEX matching_runs_organization_idx ON matching_runs (organization_id, id DESC);

CREATE TABLE resolution_runs (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source_run_id       uuid NOT NULL REFERENCES job_runs (id) ON DELETE RESTRICT,
    status              text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    policy_snapshot     jsonb NOT NULL,
    dialect_snapshot    jsonb,
    documents_total     integer NOT NULL DEFAULT 0,
    documents_processed integer NOT NULL DEFAULT 0,
    fields_resolved     integer NOT NULL DEFAULT 0,
    fields_unresolved   integer NOT NULL DEFAULT 0,
    fields_waiting      integer NOT NULL DEFAULT 0,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    completed_at        timestamptz
);
CREATE INDEX resolution_runs_organization_idx ON resolution_runs (organization_id, id DESC);

-- Written in the same transaction as the state change it announces; the relay publishes it with
-- publisher confirms and stamps published_at.
CREATE TABLE outbox_messages (
    id           bigserial PRIMARY KEY,
    exchange     text NOT NULL CHECK (exchange IN ('jobs', 'events')),
    routing_key  text NOT NULL,
    message_id   uuid NOT NULL UNIQUE,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_messages_unpublished_idx ON outbox_messages (id) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key              text NOT NULL,
    request_hash     bytea,
    response_status  integer,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, key)
);

-- Consumers record each message they handled in the same transaction as its effect, so a
-- redelivered message changes nothing.
CREATE TABLE processed_messages (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
