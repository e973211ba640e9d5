-- Matching: reference datasets and their rows, matching configs, the chunks of a run and its
-- results (one per run and document).

CREATE TABLE reference_datasets (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    -- The column whose values became the row ids (null: ids were generated).
    id_column       text,
    -- [{name, type, non_empty}] in upload order; `cells` of each row follow this order.
    -- (Not named `columns`: diesel reserves that name.)
    column_schema   jsonb NOT NULL,
    row_count       integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reference_datasets_organization_idx ON reference_datasets (organization_id, id DESC);

CREATE TABLE reference_rows (
    dataset_id uuid NOT NULL REFERENCES reference_datasets (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    row_id     text NOT NULL,
    cells      text[] NOT NULL,
    PRIMARY KEY (dataset_id, position),
    UNIQUE (dataset_id, row_id)
);

CREATE TABLE matching_configs (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL,
    -- No foreign key: deleting a dataset leaves its configs, whose next run fails clearly.
    reference_data_id uuid NOT NULL,
    field_mappings    jsonb NOT NULL,
    threshold         double precision NOT NULL,
    review_floor      double precision NOT NULL,
    ambiguity_margin  double precision NOT NULL,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX matching_configs_organization_idx ON matching_configs (organization_id, id DESC);

ALTER TABLE matching_runs
    ADD COLUMN config_id         uuid REFERENCES matching_configs (id) ON DELETE SET NULL,
    ADD COLUMN reference_data_id uuid,
    ADD COLUMN chunks_total      integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_done       integer NOT NULL DEFAULT 0,
    ADD COLUMN confidence_sum    double precision NOT NULL DEFAULT 0;
CREATE INDEX matching_runs_config_idx ON matching_runs (config_id, id DESC);

-- One row per chunk handled: a redelivered chunk finds its row and changes nothing.
CREATE TABLE matching_run_chunks (
    run_id         uuid NOT NULL REFERENCES matching_runs (id) ON DELETE CASCADE,
    chunk_index    integer NOT NULL,
    rows_processed integer NOT NULL,
    rows_matched   integer NOT NULL,
    confidence_sum double precision NOT NULL,
    completed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, chunk_index)
);

CREATE TABLE match_results (
    id                       uuid PRIMARY KEY,
    run_id                   uuid NOT NULL REFERENCES matching_runs (id) ON DELETE CASCADE,
    document_position        integer NOT NULL,
    document_id              text NOT NULL,
    document_filename        text NOT NULL,
    matched_reference_row_id text,
    confidence               double precision NOT NULL,
    status                   text NOT NULL CHECK (status IN ('unreviewed', 'needs_review', 'approved', 'rejected')),
    ambiguous                boolean NOT NULL DEFAULT false,
    resolved_by              text NOT NULL CHECK (resolved_by IN ('rules', 'ai', 'reviewer')),
    evidence                 jsonb NOT NULL,
    candidates               jsonb NOT NULL,
    review_notes             text,
    reviewed_at              timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, document_position)
);
CREATE INDEX match_results_run_confidence_idx ON match_results (run_id, confidence DESC, id);
