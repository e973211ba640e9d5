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
        config_id -> Nullable<Uuid>,
        reference_data_id -> Nullable<Uuid>,
        chunks_total -> Int4,
        chunks_done -> Int4,
        confidence_sum -> Float8,
        ai_items -> Int4,
        ai_accepted -> Int4,
        ai_flagged -> Int4,
        ai_calls -> Int4,
        model -> Nullable<Jsonb>,
    }
}

diesel::table! {
    reference_datasets (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        id_column -> Nullable<Text>,
        column_schema -> Jsonb,
        row_count -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    reference_rows (dataset_id, position) {
        dataset_id -> Uuid,
        position -> Int4,
        row_id -> Text,
        cells -> Array<Nullable<Text>>,
    }
}

diesel::table! {
    matching_configs (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        reference_data_id -> Uuid,
        field_mappings -> Jsonb,
        threshold -> Float8,
        review_floor -> Float8,
        ambiguity_margin -> Float8,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        scoring -> Text,
        assignment -> Text,
    }
}

diesel::table! {
    matching_models (id) {
        id -> Uuid,
        organization_id -> Uuid,
        config_id -> Uuid,
        config_version -> Int4,
        status -> Text,
        job_run_id -> Uuid,
        model -> Nullable<Jsonb>,
        error -> Nullable<Text>,
        requested_at -> Timestamptz,
        trained_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    matching_run_chunks (run_id, chunk_index) {
        run_id -> Uuid,
        chunk_index -> Int4,
        rows_processed -> Int4,
        rows_matched -> Int4,
        confidence_sum -> Float8,
        completed_at -> Timestamptz,
    }
}

diesel::table! {
    match_results (id) {
        id -> Uuid,
        run_id -> Uuid,
        document_position -> Int4,
        document_id -> Text,
        document_filename -> Text,
        matched_reference_row_id -> Nullable<Text>,
        confidence -> Float8,
        status -> Text,
        ambiguous -> Bool,
        resolved_by -> Text,
        evidence -> Json,
        candidates -> Json,
        review_notes -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        ai_model -> Nullable<Text>,
        ai_rationale -> Nullable<Text>,
        ai_confidence -> Nullable<Float8>,
        ai_suggested_row_id -> Nullable<Text>,
        ai_flag -> Nullable<Text>,
        ai_decided_at -> Nullable<Timestamptz>,
        match_weight -> Nullable<Float8>,
        candidates_considered -> Int4,
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
        policy_id -> Nullable<Uuid>,
        dialect_id -> Nullable<Uuid>,
        chunks_total -> Int4,
        chunks_done -> Int4,
        ai_items -> Int4,
        ai_accepted -> Int4,
        ai_flagged -> Int4,
        ai_calls -> Int4,
    }
}

diesel::table! {
    lookup_tables (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        extends -> Nullable<Text>,
        version -> Int4,
        entry_count -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    lookup_table_versions (table_id, version) {
        table_id -> Uuid,
        version -> Int4,
        extends -> Nullable<Text>,
        entry_count -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    lookup_entries (table_id, version, position) {
        table_id -> Uuid,
        version -> Int4,
        position -> Int4,
        code -> Text,
        label -> Text,
        aliases -> Array<Text>,
        attributes -> Jsonb,
    }
}

diesel::table! {
    data_policies (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        version -> Int4,
        fields -> Jsonb,
        rules -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    data_policy_versions (policy_id, version) {
        policy_id -> Uuid,
        version -> Int4,
        fields -> Jsonb,
        rules -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    dialects (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        version -> Int4,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    dialect_versions (dialect_id, version) {
        dialect_id -> Uuid,
        version -> Int4,
        name -> Text,
        settings -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    resolution_run_chunks (run_id, chunk_index) {
        run_id -> Uuid,
        chunk_index -> Int4,
        documents_processed -> Int4,
        fields_resolved -> Int4,
        fields_unresolved -> Int4,
        fields_waiting -> Int4,
        completed_at -> Timestamptz,
    }
}

diesel::table! {
    resolution_results (run_id, document_position, field_position) {
        run_id -> Uuid,
        document_position -> Int4,
        field_position -> Int2,
        document_id -> Text,
        field_key -> Text,
        original_value -> Nullable<Text>,
        resolved_value -> Nullable<Jsonb>,
        resolution_step -> Nullable<Text>,
        confidence -> Float8,
        status -> Text,
        candidates -> Nullable<Jsonb>,
        reason -> Nullable<Text>,
        model -> Nullable<Text>,
        rationale -> Nullable<Text>,
        ai_flag -> Nullable<Text>,
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

diesel::table! {
    rate_limit_buckets (caller) {
        caller -> Text,
        tokens -> Float8,
        granted -> Float8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reconciliation_tokens (id) {
        id -> Uuid,
        organization_id -> Uuid,
        config_id -> Uuid,
        name -> Text,
        token_prefix -> Text,
        token_hash -> Bytea,
        query_field -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    review_sessions (id) {
        id -> Uuid,
        session_hash -> Bytea,
        api_key_id -> Uuid,
        csrf_token -> Text,
        last_decision -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        organization_id -> Uuid,
        url -> Text,
        event_types -> Nullable<Array<Text>>,
        secret -> Text,
        enabled -> Bool,
        consecutive_failures -> Int4,
        disabled_reason -> Nullable<Text>,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        endpoint_id -> Uuid,
        organization_id -> Uuid,
        event_id -> Uuid,
        event_type -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        first_attempt_at -> Nullable<Timestamptz>,
        last_attempt_at -> Nullable<Timestamptz>,
        last_status_code -> Nullable<Int4>,
        last_latency_ms -> Nullable<Int4>,
        last_response_excerpt -> Nullable<Text>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_delivery_attempts (id) {
        id -> Int8,
        delivery_id -> Uuid,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Int4>,
        latency_ms -> Int4,
        response_excerpt -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(job_runs -> organizations (organization_id));
diesel::joinable!(documents -> job_runs (job_run_id));
diesel::joinable!(matching_runs -> job_runs (job_run_id));
diesel::joinable!(reference_rows -> reference_datasets (dataset_id));
diesel::joinable!(match_results -> matching_runs (run_id));
diesel::joinable!(matching_run_chunks -> matching_runs (run_id));
diesel::joinable!(matching_models -> matching_configs (config_id));
diesel::joinable!(lookup_table_versions -> lookup_tables (table_id));
diesel::joinable!(data_policy_versions -> data_policies (policy_id));
diesel::joinable!(dialect_versions -> dialects (dialect_id));
diesel::joinable!(resolution_run_chunks -> resolution_runs (run_id));
diesel::joinable!(resolution_results -> resolution_runs (run_id));
diesel::joinable!(reconciliation_tokens -> matching_configs (config_id));
diesel::joinable!(review_sessions -> api_keys (api_key_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_delivery_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    api_keys,
    job_runs,
    documents,
    matching_runs,
    reference_datasets,
    reference_rows,
    matching_configs,
    matching_models,
    matching_run_chunks,
    match_results,
    resolution_runs,
    lookup_tables,
    lookup_table_versions,
    lookup_entries,
    data_policies,
    data_policy_versions,
    dialects,
    dialect_versions,
    resolution_run_chunks,
    resolution_results,
    outbox_messages,
    idempotency_keys,
    processed_messages,
    rate_limit_buckets,
    reconciliation_tokens,
    review_sessions,
    webhook_endpoints,
    webhook_deliveries,
    webhook_delivery_attempts,
);
