//! The diesel table definitions; kept by hand in step with `migrations/`.

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        key_prefix -> Text,
        key_hash -> Bytea,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    job_runs (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        status -> Text,
        source -> Text,
        intake_message_id -> Nullable<Text>,
        document_count -> Int4,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    documents (job_run_id, position) {
        job_run_id -> Uuid,
        position -> Int4,
        document_id -> Text,
        filename -> Text,
        field_values -> Jsonb,
    }
}

diesel::table! {
    matching_runs (id) {
        id -> Uuid,
        organization_id -> Uuid,
        job_run_id -> Uuid,
        mode -> Text,
        status -> Text,
        config_snapshot -> Jsonb,
        rows_total -> Int4,
        rows_processed -> Int4,
        rows_matched -> Int4,
        avg_confidence -> Nullable<Float8>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    resolution_runs (id) {
        id -> Uuid,
        organization_id -> Uuid,
        source_run_id -> Uuid,
        status -> Text,
        policy_snapshot -> Jsonb,
        dialect_snapshot -> Nullable<Jsonb>,
        documents_total -> Int4,
        documents_processed -> Int4,
        fields_resolved -> Int4,
        fields_unresolved -> Int4,
        fields_waiting -> Int4,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    outbox_messages (id) {
        id -> Int8,
        exchange -> Text,
        routing_key -> Text,
        message_id -> Uuid,
        payload -> Jsonb,
        headers -> Jsonb,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (organization_id, key) {
        organization_id -> Uuid,
        key -> Text,
        request_hash -> Nullable<Bytea>,
        response_status -> Nullable<Int4>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    processed_messages (consumer, message_id) {
        consumer -> Text,
        message_id -> Text,
        processed_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(job_runs -> organizations (organization_id));
diesel::joinable!(documents -> job_runs (job_run_id));
diesel::joinable!(matching_runs -> job_runs (job_run_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    api_keys,
    job_runs,
    documents,
    matching_runs,
    resolution_runs,
    outbox_messages,
    idempotency_keys,
    processed_messages,
);
