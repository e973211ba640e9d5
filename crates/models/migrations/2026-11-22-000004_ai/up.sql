-- The AI pass: what the model decided for a value waiting in a resolution, and for a document of a
-- smart matching run; how many items a run gave the model and how it went.

ALTER TABLE resolution_results
    ADD COLUMN model     text,
    ADD COLUMN rationale text,
    -- Why the model's answer was not used (`timeout`, `budget_spent`, `not_offered`, `low_confidence`, ...).
    ADD COLUMN ai_flag   text;

ALTER TABLE resolution_runs
    ADD COLUMN ai_items    integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_accepted integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_flagged  integer NOT NULL DEFAULT 0,
    ADD COLUMN ai_calls    integer NOT NULL DEFAULT 0;
