-- Probabilistic matching: how a config decides (scoring, assignment), the trained model of each
-- config version, the model a run scores with, and each result's match weight.

-- Configs made before this migration keep the weighted mean they were tuned for; the gateway
-- gives new configs `probabilistic`.
ALTER TABLE matching_configs
    ADD COLUMN scoring    text NOT NULL DEFAULT 'weighted'
        CHECK (scoring IN ('probabilistic', 'weighted')),
    ADD COLUMN assignment text NOT NULL DEFAULT 'independent'
        CHECK (assignment IN ('independent', 'one_to_one'));

-- One model per config version: trained on the documents of a job run (and on reviewers'
-- labels), re-trained in place on request.
CREATE TABLE matching_models (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    config_id       uuid NOT NULL REFERENCES matching_configs (id) ON DELETE CASCADE,
    config_version  integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('training', 'ready', 'failed')),
    -- The job run whose documents it learns from.
    job_run_id      uuid NOT NULL,
    -- concord_scoring::matcher::MatchModel, once trained.
    model           jsonb,
    error           text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    trained_at      timestamptz,
    UNIQUE (config_id, config_version)
);

-- The model a probabilistic run scores with (a copy: re-training later changes nothing of it).
ALTER TABLE matching_runs
    ADD COLUMN model jsonb;

ALTER TABLE match_results
    -- The best candidate's match weight in bits (probabilistic runs).
    ADD COLUMN match_weight          double precision,
    -- How many reference rows were compared in full for the document.
    ADD COLUMN candidates_considered integer NOT NULL DEFAULT 0;
