-- Rate limits shared by every gateway replica: one token bucket per caller (an API key, a
-- reconciliation token), from which gateways lease a few tokens at a time, in one statement.
-- UNLOGGED: a bucket is cheap to lose (a crash refills it) and written often, so it skips the
-- write-ahead log.
CREATE UNLOGGED TABLE rate_limit_buckets (
    caller     text PRIMARY KEY,
    tokens     double precision NOT NULL,
    -- Whole tokens the last lease handed out.
    granted    double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
