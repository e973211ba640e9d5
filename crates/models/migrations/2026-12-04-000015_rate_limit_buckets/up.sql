-- Rate limits shared by every gateway replica: one token bucket per caller (an API key, a
-- reconciliation token), refilled and taken from in one statement. UNLOGGED: a bucket is cheap to
-- lose (a crash refills it) and is written on every request, so it skips the write-ahead log.
CREATE UNLOGGED TABLE rate_limit_buckets (
    caller     text PRIMARY KEY,
    tokens     double precision NOT NULL,
    allowed    boolean NOT NULL,
    updated_at timestamptz NOT NULL
);
