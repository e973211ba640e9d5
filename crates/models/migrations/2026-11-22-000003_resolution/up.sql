-- Resolution: lookup tables (versioned entries), data policies and dialects (versioned), and the
-- chunks and results of resolution runs (one result per run, document and policy field).

CREATE TABLE lookup_tables (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- What policies call the table by; unique in the organisation.
    name            text NOT NULL,
    description     text,
    -- The built-in standard table whose entries this one extends (null: none).
    extends         text,
    version         integer NOT NULL DEFAULT 1,
    entry_count     integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);
CREATE INDEX lookup_tables_organization_idx ON lookup_tables (organization_id, id DESC);

-- Every version of a table stays readable by its number.
CREATE TABLE lookup_table_versions (
    table_id    uuid NOT NULL REFERENCES lookup_tables (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    extends     text,
    entry_count integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_id, version)
);

CREATE TABLE lookup_entries (
    table_id   uuid NOT NULL,
    version    integer NOT NULL,
    position   integer NOT NULL,
    code       text NOT NULL,
    label      text NOT NULL,
    aliases    text[] NOT NULL,
    attributes jsonb NOT NULL,
    PRIMARY KEY (table_id, version, position),
    FOREIGN KEY (table_id, version) REFERENCES lookup_table_versions (table_id, version) ON DELETE CASCADE
);

CREATE TABLE data_policies (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text,
    version         integer NOT NULL DEFAULT 1,
    -- The current version's fields and rules (every version is in data_policy_versions).
    fields          jsonb NOT NULL,
    rules           jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_policies_organization_idx ON data_policies (organization_id, id DESC);

CREATE TABLE data_policy_versions (
    policy_id  uuid NOT NULL REFERENCES data_policies (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    fields     jsonb NOT NULL,
    rules      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version)
);

CREATE TABLE dialects (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    -- {date_format, number_locale, delimiter, null_representation, encoding, boolean_format}
    settings        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dialects_organization_idx ON dialects (organization_id, id DESC);

CREATE TABLE dialect_versions (
    dialect_id uuid NOT NULL REFERENCES dialects (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    name       text NOT NULL,
    settings   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dialect_id, version)
);

-- No foreign keys to the policy and dialect: a run keeps its snapshots when they are deleted.
ALTER TABLE resolution_runs
    ADD COLUMN policy_id    uuid,
    ADD COLUMN dialect_id   uuid,
    ADD COLUMN chunks_total integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_done  integer NOT NULL DEFAULT 0;

-- One row per chunk handled: a redelivered chunk finds its row and changes nothing.
CREATE TABLE resolution_run_chunks (
    run_id              uuid NOT NULL REFERENCES resolution_runs (id) ON DELETE CASCADE,
    chunk_index         integer NOT NULL,
    documents_processed integer NOT NULL,
    fields_resolved     integer NOT NULL,
    fields_unresolved   integer NOT NULL,
    fields_waiting      integer NOT NULL,
    completed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, chunk_index)
);

CREATE TABLE resolution_results (
    run_id            uuid NOT NULL REFERENCES resolution_runs (id) ON DELETE CASCADE,
    document_position integer NOT NULL,
    -- The field's position in the policy snapshot's fields.
    field_position    smallint NOT NULL,
    document_id       text NOT NULL,
    field_key         text NOT NULL,
    original_value    text,
    resolved_value    jsonb,
    resolution_step   text CHECK (resolution_step IN ('lookup', 'direct', 'parse', 'compute', 'format', 'llm')),
    confidence        double precision NOT NULL,
    status            text NOT NULL CHECK (status IN ('resolved', 'unresolved', 'waiting')),
    -- [{code, label, score}] a lookup weighed; null when no lookup ran.
    candidates        jsonb,
    reason            text,
    PRIMARY KEY (run_id, document_position, field_position)
);
CREATE INDEX resolution_results_waiting_idx ON resolution_results (run_id) WHERE status = 'waiting';
