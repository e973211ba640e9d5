-- Reconciliation tokens: a read-only credential of one matching config that rides in the URL of
-- its W3C Reconciliation service (OpenRefine sends no Authorization header). Only the token's
-- SHA-256 hash and a short prefix (to recognise it in listings) are kept; revoking one sets
-- `revoked_at`, and deleting the config deletes its tokens.

CREATE TABLE reconciliation_tokens (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    config_id       uuid NOT NULL REFERENCES matching_configs (id) ON DELETE CASCADE,
    name            text NOT NULL,
    token_prefix    text NOT NULL,
    token_hash      bytea NOT NULL UNIQUE,
    -- The config field (a mapping's `source`) that a query's text fills.
    query_field     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX reconciliation_tokens_config_idx ON reconciliation_tokens (config_id, id);
