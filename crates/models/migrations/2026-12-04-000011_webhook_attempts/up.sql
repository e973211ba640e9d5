-- Every attempt of a webhook delivery, as it went: the delivery row keeps the last one, this the
-- history the delivery log shows.
CREATE TABLE webhook_delivery_attempts (
    id                bigserial PRIMARY KEY,
    delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at      timestamptz NOT NULL,
    status_code       integer,
    latency_ms        integer NOT NULL,
    response_excerpt  text,
    error             text
);
CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (delivery_id, id);
