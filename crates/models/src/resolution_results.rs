use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::ResolutionRunId;
use crate::json::Json;
use crate::schema::resolution_results;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// Which step of a policy settled a value (`reviewer`: a person, in the review UI).
    pub enum ResolutionStep {
        Lookup => "lookup",
        Direct => "direct",
        Parse => "parse",
        Compute => "compute",
        Format => "format",
        Llm => "llm",
        Reviewer => "reviewer",
    }
}

text_enum! {
    /// `waiting`: a lookup with an LLM fallback could not settle the value; the ai-resolver will.
    pub enum ResolutionStatus {
        Resolved => "resolved",
        Unresolved => "unresolved",
        Waiting => "waiting",
    }
}

/// One field of one document as a resolution run resolved it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = resolution_results, check_for_backend(diesel::pg::Pg))]
pub struct ResolutionResult {
    pub run_id: ResolutionRunId,
    pub document_position: i32,
    pub field_position: i16,
    pub document_id: String,
    pub field_key: String,
    pub original_value: Option<String>,
    /// The value in its JSON form (a string, an exact decimal number or a boolean), read back
    /// with the policy's type of the field (`ResolvedValue::from_json`): which of the three it
    /// is depends on the policy, not on this column.
    pub resolved_value: Option<serde_json::Value>,
    pub resolution_step: Option<ResolutionStep>,
    pub confidence: f64,
    pub status: ResolutionStatus,
    /// The codes a lookup weighed for a value it could not settle alone (none when it did).
    pub candidates: Option<Json<Vec<ResolutionCandidate>>>,
    pub reason: Option<String>,
    /// The model that decided a value (step `llm`), and why.
    pub model: Option<String>,
    pub rationale: Option<String>,
    /// Why the model's answer was not used, for a value that waited for it.
    pub ai_flag: Option<String>,
}

/// A code a lookup weighed for a value, with its similarity in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResolutionCandidate {
    pub code: String,
    pub label: String,
    pub score: f64,
}

/// A result to store (the same columns).
pub type NewResolutionResult = ResolutionResult;

/// Which results to list.
#[derive(Debug, Clone, Default)]
pub struct ResolutionResultFilter {
    pub document_id: Option<String>,
    pub field_key: Option<String>,
    pub step: Option<ResolutionStep>,
    pub status: Option<ResolutionStatus>,
}

/// Where a page starts: after this document position and field position.
pub type ResultCursor = (i32, i16);

/// Rows per insert statement.
const ROWS_PER_INSERT: usize = 10_000;

impl ResolutionResult {
    /// Inserts results in bulk: one statement per [`ROWS_PER_INSERT`] rows, each column one array
    /// that `unnest` takes apart. A result that exists for its run, document and field (a
    /// redelivered chunk) is left as it is. Returns how many rows were new.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        results: &[NewResolutionResult],
    ) -> Result<usize, StoreError> {
        use diesel::sql_types::{Array, Float8, Int2, Int4, Nullable, Text, Uuid};
        const INSERT: &str = "INSERT INTO resolution_results (run_id, document_position, \
             field_position, document_id, field_key, original_value, resolved_value, \
             resolution_step, confidence, status, candidates, reason, model, rationale, ai_flag) \
             SELECT $1, t.position, t.field_position, t.document_id, t.field_key, t.original, \
                    t.resolved::jsonb, t.step, t.confidence, t.status, t.candidates::jsonb, t.reason, \
                    t.model, t.rationale, t.ai_flag \
             FROM unnest($2::int4[], $3::int2[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::float8[], $10::text[], $11::text[], $12::text[], \
                         $13::text[], $14::text[], $15::text[]) \
                  AS t(position, field_position, document_id, field_key, original, resolved, \
                       step, confidence, status, candidates, reason, model, rationale, ai_flag) \
             ON CONFLICT (run_id, document_position, field_position) DO NOTHING";
        let mut inserted = 0;
        for chunk in results.chunks(ROWS_PER_INSERT) {
            let Some(first) = chunk.first() else {
                continue;
            };
            let positions: Vec<i32> = chunk.iter().map(|r| r.document_position).collect();
            let field_positions: Vec<i16> = chunk.iter().map(|r| r.field_position).collect();
            let document_ids: Vec<&str> = chunk.iter().map(|r| r.document_id.as_str()).collect();
            let field_keys: Vec<&str> = chunk.iter().map(|r| r.field_key.as_str()).collect();
            let originals: Vec<Option<&str>> =
                chunk.iter().map(|r| r.original_value.as_deref()).collect();
            let resolved: Vec<Option<String>> = chunk
                .iter()
                .map(|r| r.resolved_value.as_ref().map(|v| v.to_string()))
                .collect();
            let steps: Vec<Option<&str>> = chunk
                .iter()
                .map(|r| r.resolution_step.map(|s| s.as_str()))
                .collect();
            let confidences: Vec<f64> = chunk.iter().map(|r| r.confidence).collect();
            let statuses: Vec<&str> = chunk.iter().map(|r| r.status.as_str()).collect();
            let candidates: Vec<Option<String>> = chunk
                .iter()
                .map(|r| r.candidates.as_ref().map(|c| serde_json::to_string(&c.0)))
                .map(Option::transpose)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    StoreError::Query(diesel::result::Error::SerializationError(Box::new(e)))
                })?;
            let reasons: Vec<Option<&str>> = chunk.iter().map(|r| r.reason.as_deref()).collect();
            let models: Vec<Option<&str>> = chunk.iter().map(|r| r.model.as_deref()).collect();
            let rationales: Vec<Option<&str>> =
                chunk.iter().map(|r| r.rationale.as_deref()).collect();
            let flags: Vec<Option<&str>> = chunk.iter().map(|r| r.ai_flag.as_deref()).collect();
            inserted += diesel::sql_query(INSERT)
                .bind::<Uuid, _>(first.run_id)
                .bind::<Array<Int4>, _>(&positions)
                .bind::<Array<Int2>, _>(&field_positions)
                .bind::<Array<Text>, _>(&document_ids)
                .bind::<Array<Text>, _>(&field_keys)
                .bind::<Array<Nullable<Text>>, _>(&originals)
                .bind::<Array<Nullable<Text>>, _>(&resolved)
                .bind::<Array<Nullable<Text>>, _>(&steps)
                .bind::<Array<Float8>, _>(&confidences)
                .bind::<Array<Text>, _>(&statuses)
                .bind::<Array<Nullable<Text>>, _>(&candidates)
                .bind::<Array<Nullable<Text>>, _>(&reasons)
                .bind::<Array<Nullable<Text>>, _>(&models)
                .bind::<Array<Nullable<Text>>, _>(&rationales)
                .bind::<Array<Nullable<Text>>, _>(&flags)
                .execute(conn)
                .await?;
        }
        Ok(inserted)
    }

    /// The run's results in document and field order after the cursor, filtered.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        run_id: ResolutionRunId,
        filter: &ResolutionResultFilter,
        after: Option<ResultCursor>,
        limit: i64,
    ) -> Result<Vec<ResolutionResult>, StoreError> {
        let mut query = resolution_results::table
            .filter(resolution_results::run_id.eq(run_id))
            .order((
                resolution_results::document_position.asc(),
                resolution_results::field_position.asc(),
            ))
            .limit(limit)
            .select(ResolutionResult::as_select())
            .into_boxed();
        if let Some((position, field)) = after {
            query = query.filter(
                resolution_results::document_position.gt(position).or(
                    resolution_results::document_position
                        .eq(position)
                        .and(resolution_results::field_position.gt(field)),
                ),
            );
        }
        if let Some(document_id) = &filter.document_id {
            query = query.filter(resolution_results::document_id.eq(document_id.clone()));
        }
        if let Some(field_key) = &filter.field_key {
            query = query.filter(resolution_results::field_key.eq(field_key.clone()));
        }
        if let Some(step) = filter.step {
            query = query.filter(resolution_results::resolution_step.eq(step));
        }
        if let Some(status) = filter.status {
            query = query.filter(resolution_results::status.eq(status));
        }
        Ok(query.load(conn).await?)
    }

    /// Replaces every result of these documents of the run (what the AI pass re-resolved), in
    /// the caller's transaction.
    pub async fn replace_documents(
        conn: &mut AsyncPgConnection,
        run_id: ResolutionRunId,
        document_positions: &[i32],
        results: &[NewResolutionResult],
    ) -> Result<(), StoreError> {
        diesel::delete(
            resolution_results::table
                .filter(resolution_results::run_id.eq(run_id))
                .filter(resolution_results::document_position.eq_any(document_positions)),
        )
        .execute(conn)
        .await?;
        Self::insert_all(conn, results).await?;
        Ok(())
    }

    /// One result of the run, by document and field position.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        run_id: ResolutionRunId,
        document_position: i32,
        field_position: i16,
    ) -> Result<Option<ResolutionResult>, StoreError> {
        Ok(resolution_results::table
            .filter(resolution_results::run_id.eq(run_id))
            .filter(resolution_results::document_position.eq(document_position))
            .filter(resolution_results::field_position.eq(field_position))
            .select(ResolutionResult::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// A reviewer settles an unresolved value with a code: the result becomes `resolved` by step
    /// `reviewer` with confidence 1, and the run's counters move with it, in one transaction.
    /// Returns the settled result; `None` when the run has no such result or it is not
    /// `unresolved` (a `waiting` value is the AI pass's, which rewrites its document's results).
    pub async fn settle_by_reviewer(
        conn: &mut AsyncPgConnection,
        run_id: ResolutionRunId,
        document_position: i32,
        field_position: i16,
        code: &str,
    ) -> Result<Option<ResolutionResult>, StoreError> {
        use crate::schema::resolution_runs;
        use diesel_async::AsyncConnection;
        let code = code.to_owned();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let target = resolution_results::table
                .filter(resolution_results::run_id.eq(run_id))
                .filter(resolution_results::document_position.eq(document_position))
                .filter(resolution_results::field_position.eq(field_position));
            let Some(prior) = target
                .select(resolution_results::status)
                .for_update()
                .first::<ResolutionStatus>(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            if prior != ResolutionStatus::Unresolved {
                return Ok(None);
            }
            let settled = diesel::update(target)
                .set((
                    resolution_results::status.eq(ResolutionStatus::Resolved),
                    resolution_results::resolved_value.eq(Some(serde_json::Value::String(code))),
                    resolution_results::resolution_step.eq(Some(ResolutionStep::Reviewer)),
                    resolution_results::confidence.eq(1.0),
                    resolution_results::reason.eq(None::<String>),
                ))
                .returning(ResolutionResult::as_returning())
                .get_result(conn)
                .await?;
            diesel::update(resolution_runs::table.find(run_id))
                .set((
                    resolution_runs::fields_resolved.eq(resolution_runs::fields_resolved + 1),
                    resolution_runs::fields_unresolved.eq(resolution_runs::fields_unresolved - 1),
                    resolution_runs::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            Ok(Some(settled))
        })
        .await
    }

    /// How many of the run's results have each status: (resolved, unresolved, waiting).
    pub async fn count_by_status(
        conn: &mut AsyncPgConnection,
        run_id: ResolutionRunId,
    ) -> Result<(i64, i64, i64), StoreError> {
        let rows: Vec<(ResolutionStatus, i64)> = resolution_results::table
            .filter(resolution_results::run_id.eq(run_id))
            .group_by(resolution_results::status)
            .select((resolution_results::status, diesel::dsl::count_star()))
            .load(conn)
            .await?;
        let count = |status| {
            rows.iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n)
        };
        Ok((
            count(ResolutionStatus::Resolved),
            count(ResolutionStatus::Unresolved),
            count(ResolutionStatus::Waiting),
        ))
    }
}
