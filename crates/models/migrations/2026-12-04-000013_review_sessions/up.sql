-- Review sessions: a reviewer signs in to the review UI (/ui) with an API key, and gets a
-- session cookie. Only the cookie's SHA-256 hash is kept; the session acts with its key's
-- organisation and scopes while the key is not revoked (revoking or deleting the key ends it).
-- `csrf_token` is the token every form of the session carries; `last_decision` what undoing the
-- session's last review decision restores.

CREATE TABLE review_sessions (
    id              uuid PRIMARY KEY,
    session_hash    bytea NOT NULL UNIQUE,
    api_key_id      uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    last_decision   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX review_sessions_key_idx ON review_sessions (api_key_id);
