-- Webhooks: the endpoints an organisation registers, and one delivery per (endpoint, event).
-- A delivery's id is the `webhook-id` header its every attempt carries, so a receiver can drop
-- the duplicates a retry or a redelivery sends; the unique (endpoint, event) pair makes an event
-- the broker redelivers create nothing new.

CREATE TABLE webhook_endpoints (
    id                   uuid PRIMARY KEY,
    organization_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                  text NOT NULL,
    -- NULL: every event type.
    event_types          text[],
    -- `whsec_` and the base64 of the key's bytes, as Standard Webhooks writes it.
    secret               text NOT NULL,
    enabled              boolean NOT NULL DEFAULT true,
    consecutive_failures integer NOT NULL DEFAULT 0,
    disabled_reason      text,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_organization_idx ON webhook_endpoints (organization_id, id);

CREATE TABLE webhook_deliveries (
    id                    uuid PRIMARY KEY,
    endpoint_id           uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_id              uuid NOT NULL,
    event_type            text NOT NULL,
    payload               jsonb NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts              integer NOT NULL DEFAULT 0,
    next_attempt_at       timestamptz,
    first_attempt_at      timestamptz,
    last_attempt_at       timestamptz,
    last_status_code      integer,
    last_latency_ms       integer,
    -- The first bytes of the receiver's last answer (bounded by the sender).
    last_response_excerpt text,
    last_error            text,
    delivered_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
