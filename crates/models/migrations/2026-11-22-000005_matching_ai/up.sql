-- The AI pass of matching runs: what the model decided or suggested for a document, and how many
-- documents a run gave the model and how it went.

ALTER TABLE match_results
    ADD COLUMN ai_model            text,
    ADD COLUMN ai_rationale        text,
    ADD COLUMN ai_confidence       double precision,
    -- The row the model chose (or null for "none"), whether or not its choice was accepted.
    ADD COLUMN ai_suggested_row_id text,
    -- Why the model's choice was not applied (`timeout`, `disagreed`, `low_confidence`, ...).
    ADD COLUMN ai_flag             text,
    ADD COLUMN ai_decided_at       timestamptz;

ALTER TABLE matching_runs
    ADD COLUMN ai_items    integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_accepted integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_flagged  integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_calls    integer NOT NULL DEFAULT 0;
