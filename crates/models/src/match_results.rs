use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{MatchResultId, MatchingRunId};
use crate::schema::match_results;
use crate::text_enum::text_enum;
use crate::StoreError;

text_enum! {
    /// Where a result stands with reviewers: the scorer's confident decisions are `unreviewed`,
    /// those in the review band (or ambiguous) `needs_review`; a reviewer's word is final until
    /// the next review.
    pub enum ReviewStatus {
        Unreviewed => "unreviewed",
        NeedsReview => "needs_review",
        Approved => "approved",
        Rejected => "rejected",
    }
}

text_enum! {
    /// Who settled the match: the deterministic rules, the AI pass, or a reviewer.
    pub enum ResolvedBy {
        Rules => "rules",
        Ai => "ai",
        Reviewer => "reviewer",
    }
}

/// The outcome of matching one document of a run: the matched reference row (none when nothing
/// reaches the threshold), the confidence, per-field evidence and the top candidates.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = match_results, check_for_backend(diesel::pg::Pg))]
pub struct MatchResult {
    pub id: MatchResultId,
    pub run_id: MatchingRunId,
    pub document_position: i32,
    pub document_id: String,
    pub document_filename: String,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    pub status: ReviewStatus,
    pub ambiguous: bool,
    pub resolved_by: ResolvedBy,
    pub evidence: crate::Json<Vec<FieldEvidence>>,
    pub candidates: crate::Json<Vec<MatchCandidate>>,
    pub review_notes: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The AI pass: the model, its rationale and confidence, the row it chose (null: none),
    /// and why its choice was not applied (`None` when it was, or when it was not asked).
    pub ai_model: Option<String>,
    pub ai_rationale: Option<String>,
    pub ai_confidence: Option<f64>,
    pub ai_suggested_row_id: Option<String>,
    pub ai_flag: Option<String>,
    pub ai_decided_at: Option<DateTime<Utc>>,
    /// The best candidate's match weight in bits (probabilistic runs).
    pub match_weight: Option<f64>,
    /// How many reference rows were compared in full for the document.
    pub candidates_considered: i32,
}

/// One field's evidence for the best candidate, as stored in a result's `evidence`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldEvidence {
    pub source: String,
    pub target: String,
    pub strategy: String,
    /// The graded score in `[0, 1]`; null when the value is missing on either side.
    pub score: Option<f64>,
    /// The comparison level the score fell into; null when missing.
    #[serde(default)]
    pub level: Option<String>,
    /// What the field adds to the match weight, in bits (probabilistic runs).
    #[serde(default)]
    pub match_weight: Option<f64>,
    pub document_value: Option<String>,
    pub reference_value: Option<String>,
}

/// One of a result's top candidates, as stored in its `candidates`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatchCandidate {
    pub reference_row_id: String,
    pub confidence: f64,
    /// Its match weight in bits (probabilistic runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_weight: Option<f64>,
    /// Its candidate weight in bits (probabilistic runs; what the one-to-one assignment needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_weight: Option<f64>,
}

/// What the one-to-one assignment needs of a result.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = match_results, check_for_backend(diesel::pg::Pg))]
pub struct AssignmentInput {
    pub id: MatchResultId,
    pub document_position: i32,
    pub matched_reference_row_id: Option<String>,
    pub status: ReviewStatus,
    pub ambiguous: bool,
    pub candidates: crate::Json<Vec<MatchCandidate>>,
    pub candidates_considered: i32,
}

/// A result changed by the one-to-one assignment.
#[derive(Debug, Clone)]
pub struct AssignmentUpdate {
    pub id: MatchResultId,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    pub status: ReviewStatus,
    pub ambiguous: bool,
    pub match_weight: Option<f64>,
    pub candidates: Vec<MatchCandidate>,
    /// The evidence for the new best candidate, when it changed.
    pub evidence: Option<Vec<FieldEvidence>>,
}

/// A reviewer's decision on a result of one of a config's runs, as a training label.
#[derive(Debug, Clone, Queryable)]
pub struct ReviewLabel {
    pub job_run_id: crate::ids::JobRunId,
    pub document_position: i32,
    pub status: ReviewStatus,
    pub matched_reference_row_id: Option<String>,
    pub candidates: crate::Json<Vec<MatchCandidate>>,
}

/// A result to insert ([`MatchResult::insert_all`]).
#[derive(Debug, Clone)]
pub struct NewMatchResult {
    pub id: MatchResultId,
    pub run_id: MatchingRunId,
    pub document_position: i32,
    pub document_id: String,
    pub document_filename: String,
    pub matched_reference_row_id: Option<String>,
    pub confidence: f64,
    pub status: ReviewStatus,
    pub ambiguous: bool,
    pub resolved_by: ResolvedBy,
    pub evidence: Vec<FieldEvidence>,
    pub candidates: Vec<MatchCandidate>,
    pub match_weight: Option<f64>,
    pub candidates_considered: i32,
}

/// Which results to list.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub status: Option<ReviewStatus>,
    /// `Some(true)`: only those with a matched row; `Some(false)`: only those without.
    pub matched: Option<bool>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
}

/// A reviewer's decision.
#[derive(Debug, Clone)]
pub struct Review {
    pub status: ReviewStatus,
    pub notes: Option<String>,
    /// A reviewer may settle on another row than the scorer's (an approval names it).
    pub matched_reference_row_id: Option<Option<String>>,
}

/// A result's review fields as they stood: what undoing a decision puts back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReviewState {
    pub result_id: MatchResultId,
    pub run_id: MatchingRunId,
    pub status: ReviewStatus,
    pub notes: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub matched_reference_row_id: Option<String>,
    pub resolved_by: ResolvedBy,
}

/// Which of a run's review set a reviewer looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewSetFilter {
    /// Waiting for a reviewer: `needs_review`, or ambiguous and not yet reviewed.
    Pending,
    /// Decided by a reviewer.
    Decided,
    /// Both.
    All,
}

/// Rows per insert statement.
const ROWS_PER_INSERT: usize = 5_000;

impl MatchResult {
    /// Inserts results in bulk: one statement per [`ROWS_PER_INSERT`] rows, each column passed as
    /// one array that `unnest` takes apart (PostgreSQL parses a short statement instead of one
    /// with a bind parameter per value). A result that already exists for its run and document (a
    /// redelivered chunk) is left as it is. Returns how many rows were new.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        results: &[NewMatchResult],
    ) -> Result<usize, StoreError> {
        use diesel::sql_types::{Array, Bool, Float8, Int4, Nullable, Text, Uuid};
        const INSERT: &str = "INSERT INTO match_results (id, run_id, document_position, \
             document_id, document_filename, matched_reference_row_id, confidence, status, \
             ambiguous, resolved_by, evidence, candidates, match_weight, candidates_considered) \
             SELECT t.id, t.run_id, t.position, t.document_id, t.filename, t.matched, \
                    t.confidence, t.status, t.ambiguous, t.resolved_by, t.evidence::json, \
                    t.candidates::json, t.match_weight, t.considered \
             FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::text[], \
                         $7::float8[], $8::text[], $9::bool[], $10::text[], $11::text[], $12::text[], \
                         $13::float8[], $14::int4[]) \
                  AS t(id, run_id, position, document_id, filename, matched, confidence, status, \
                       ambiguous, resolved_by, evidence, candidates, match_weight, considered) \
             ON CONFLICT (run_id, document_position) DO NOTHING";
        let mut inserted = 0;
        for chunk in results.chunks(ROWS_PER_INSERT) {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|r| r.id.as_uuid()).collect();
            let run_ids: Vec<uuid::Uuid> = chunk.iter().map(|r| r.run_id.as_uuid()).collect();
            let positions: Vec<i32> = chunk.iter().map(|r| r.document_position).collect();
            let document_ids: Vec<&str> = chunk.iter().map(|r| r.document_id.as_str()).collect();
            let filenames: Vec<&str> = chunk.iter().map(|r| r.document_filename.as_str()).collect();
            let matched: Vec<Option<&str>> = chunk
                .iter()
                .map(|r| r.matched_reference_row_id.as_deref())
                .collect();
            let confidences: Vec<f64> = chunk.iter().map(|r| r.confidence).collect();
            let statuses: Vec<&str> = chunk.iter().map(|r| r.status.as_str()).collect();
            let ambiguous: Vec<bool> = chunk.iter().map(|r| r.ambiguous).collect();
            let resolved_by: Vec<&str> = chunk.iter().map(|r| r.resolved_by.as_str()).collect();
            let evidence = chunk
                .iter()
                .map(|r| serde_json::to_string(&r.evidence))
                .collect::<Result<Vec<String>, _>>()?;
            let candidates = chunk
                .iter()
                .map(|r| serde_json::to_string(&r.candidates))
                .collect::<Result<Vec<String>, _>>()?;
            let match_weights: Vec<Option<f64>> = chunk.iter().map(|r| r.match_weight).collect();
            let considered: Vec<i32> = chunk.iter().map(|r| r.candidates_considered).collect();
            inserted += diesel::sql_query(INSERT)
                .bind::<Array<Uuid>, _>(&ids)
                .bind::<Array<Uuid>, _>(&run_ids)
                .bind::<Array<Int4>, _>(&positions)
                .bind::<Array<Text>, _>(&document_ids)
                .bind::<Array<Text>, _>(&filenames)
                .bind::<Array<Nullable<Text>>, _>(&matched)
                .bind::<Array<Float8>, _>(&confidences)
                .bind::<Array<Text>, _>(&statuses)
                .bind::<Array<Bool>, _>(&ambiguous)
                .bind::<Array<Text>, _>(&resolved_by)
                .bind::<Array<Text>, _>(&evidence)
                .bind::<Array<Text>, _>(&candidates)
                .bind::<Array<Nullable<Float8>>, _>(&match_weights)
                .bind::<Array<Int4>, _>(&considered)
                .execute(conn)
                .await?;
        }
        Ok(inserted)
    }

    pub async fn find(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        id: MatchResultId,
    ) -> Result<Option<MatchResult>, StoreError> {
        Ok(match_results::table
            .find(id)
            .filter(match_results::run_id.eq(run_id))
            .select(MatchResult::as_select())
            .first(conn)
            .await
            .optional()?)
    }

    /// The run's results in document order after the given position, filtered.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        filter: &ResultFilter,
        after_position: Option<i32>,
        limit: i64,
    ) -> Result<Vec<MatchResult>, StoreError> {
        let mut query = match_results::table
            .filter(match_results::run_id.eq(run_id))
            .filter(match_results::document_position.gt(after_position.unwrap_or(-1)))
            .order(match_results::document_position.asc())
            .limit(limit)
            .select(MatchResult::as_select())
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(match_results::status.eq(status));
        }
        match filter.matched {
            Some(true) => {
                query = query.filter(match_results::matched_reference_row_id.is_not_null())
            }
            Some(false) => query = query.filter(match_results::matched_reference_row_id.is_null()),
            None => {}
        }
        if let Some(min) = filter.min_confidence {
            query = query.filter(match_results::confidence.ge(min));
        }
        if let Some(max) = filter.max_confidence {
            query = query.filter(match_results::confidence.le(max));
        }
        Ok(query.load(conn).await?)
    }

    /// The run's results with these ids, in no particular order (one query).
    pub async fn find_many(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        ids: &[MatchResultId],
    ) -> Result<Vec<MatchResult>, StoreError> {
        Ok(match_results::table
            .filter(match_results::run_id.eq(run_id))
            .filter(match_results::id.eq_any(ids))
            .select(MatchResult::as_select())
            .load(conn)
            .await?)
    }

    /// Its review fields as they stand now.
    pub fn review_state(&self) -> ReviewState {
        ReviewState {
            result_id: self.id,
            run_id: self.run_id,
            status: self.status,
            notes: self.review_notes.clone(),
            reviewed_at: self.reviewed_at,
            matched_reference_row_id: self.matched_reference_row_id.clone(),
            resolved_by: self.resolved_by,
        }
    }

    /// Puts a result's review fields back as `state` had them (undoing a decision).
    pub async fn restore(
        conn: &mut AsyncPgConnection,
        state: &ReviewState,
    ) -> Result<Option<MatchResult>, StoreError> {
        touch_run(conn, state.run_id).await?;
        Ok(diesel::update(
            match_results::table
                .find(state.result_id)
                .filter(match_results::run_id.eq(state.run_id)),
        )
        .set((
            match_results::status.eq(state.status),
            match_results::review_notes.eq(state.notes.clone()),
            match_results::reviewed_at.eq(state.reviewed_at),
            match_results::matched_reference_row_id.eq(state.matched_reference_row_id.clone()),
            match_results::resolved_by.eq(state.resolved_by),
        ))
        .returning(MatchResult::as_returning())
        .get_result(conn)
        .await
        .optional()?)
    }

    /// The run's review set — results a reviewer has to look at (`needs_review`, or ambiguous)
    /// or has decided — in document order, as `(id, position, status, ambiguous)`: what the
    /// review queue and its next/previous keys walk.
    pub async fn review_set(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        filter: ReviewSetFilter,
    ) -> Result<Vec<(MatchResultId, i32, ReviewStatus, bool)>, StoreError> {
        let pending =
            match_results::status
                .eq(ReviewStatus::NeedsReview)
                .or(match_results::ambiguous
                    .eq(true)
                    .and(match_results::status.eq(ReviewStatus::Unreviewed)));
        let decided = match_results::status
            .eq(ReviewStatus::Approved)
            .or(match_results::status.eq(ReviewStatus::Rejected));
        let query = match_results::table
            .filter(match_results::run_id.eq(run_id))
            .order(match_results::document_position.asc())
            .select((
                match_results::id,
                match_results::document_position,
                match_results::status,
                match_results::ambiguous,
            ))
            .into_boxed();
        let query = match filter {
            ReviewSetFilter::Pending => query.filter(pending),
            ReviewSetFilter::Decided => query.filter(decided),
            ReviewSetFilter::All => query.filter(pending.or(decided)),
        };
        Ok(query.load(conn).await?)
    }

    /// Every confidence of the run (for its histogram).
    pub async fn confidences(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
    ) -> Result<Vec<f64>, StoreError> {
        Ok(match_results::table
            .filter(match_results::run_id.eq(run_id))
            .select(match_results::confidence)
            .load(conn)
            .await?)
    }

    /// The run's most confident results.
    pub async fn top(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        limit: i64,
    ) -> Result<Vec<MatchResult>, StoreError> {
        Ok(match_results::table
            .filter(match_results::run_id.eq(run_id))
            .order((
                match_results::confidence.desc(),
                match_results::document_position.asc(),
            ))
            .limit(limit)
            .select(MatchResult::as_select())
            .load(conn)
            .await?)
    }

    /// Records a review (a later one overwrites an earlier one). `None` when the result is not
    /// the run's.
    pub async fn review(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        id: MatchResultId,
        review: Review,
    ) -> Result<Option<MatchResult>, StoreError> {
        let target = match_results::table
            .find(id)
            .filter(match_results::run_id.eq(run_id));
        touch_run(conn, run_id).await?;
        let now = chrono::Utc::now();
        let updated = match review.matched_reference_row_id {
            Some(row_id) => {
                diesel::update(target)
                    .set((
                        match_results::status.eq(review.status),
                        match_results::review_notes.eq(review.notes),
                        match_results::reviewed_at.eq(now),
                        match_results::matched_reference_row_id.eq(row_id),
                        match_results::resolved_by.eq(ResolvedBy::Reviewer),
                    ))
                    .returning(MatchResult::as_returning())
                    .get_result(conn)
                    .await
            }
            None => {
                diesel::update(target)
                    .set((
                        match_results::status.eq(review.status),
                        match_results::review_notes.eq(review.notes),
                        match_results::reviewed_at.eq(now),
                    ))
                    .returning(MatchResult::as_returning())
                    .get_result(conn)
                    .await
            }
        };
        Ok(updated.optional()?)
    }

    /// Every result of a run with its candidates, for the one-to-one assignment.
    pub async fn for_assignment(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
    ) -> Result<Vec<AssignmentInput>, StoreError> {
        Ok(match_results::table
            .filter(match_results::run_id.eq(run_id))
            .order(match_results::document_position.asc())
            .select(AssignmentInput::as_select())
            .load(conn)
            .await?)
    }

    /// Writes what the one-to-one assignment changed, in bulk.
    pub async fn apply_assignment(
        conn: &mut AsyncPgConnection,
        updates: &[AssignmentUpdate],
    ) -> Result<(), StoreError> {
        use diesel::sql_types::{Array, Bool, Float8, Nullable, Text, Uuid};
        const UPDATE: &str = "UPDATE match_results AS r SET \
             matched_reference_row_id = t.matched, confidence = t.confidence, status = t.status, \
             ambiguous = t.ambiguous, match_weight = t.match_weight, \
             candidates = t.candidates::json, evidence = COALESCE(t.evidence::json, r.evidence) \
             FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::text[], $5::bool[], \
                         $6::float8[], $7::text[], $8::text[]) \
                  AS t(id, matched, confidence, status, ambiguous, match_weight, candidates, evidence) \
             WHERE r.id = t.id";
        for chunk in updates.chunks(ROWS_PER_INSERT) {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|u| u.id.as_uuid()).collect();
            let matched: Vec<Option<&str>> = chunk
                .iter()
                .map(|u| u.matched_reference_row_id.as_deref())
                .collect();
            let confidences: Vec<f64> = chunk.iter().map(|u| u.confidence).collect();
            let statuses: Vec<&str> = chunk.iter().map(|u| u.status.as_str()).collect();
            let ambiguous: Vec<bool> = chunk.iter().map(|u| u.ambiguous).collect();
            let weights: Vec<Option<f64>> = chunk.iter().map(|u| u.match_weight).collect();
            let mut candidates = Vec::with_capacity(chunk.len());
            let mut evidence = Vec::with_capacity(chunk.len());
            for u in chunk {
                candidates.push(
                    serde_json::to_string(&u.candidates)
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
                );
                evidence.push(
                    u.evidence
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
                );
            }
            diesel::sql_query(UPDATE)
                .bind::<Array<Uuid>, _>(&ids)
                .bind::<Array<Nullable<Text>>, _>(&matched)
                .bind::<Array<Float8>, _>(&confidences)
                .bind::<Array<Text>, _>(&statuses)
                .bind::<Array<Bool>, _>(&ambiguous)
                .bind::<Array<Nullable<Float8>>, _>(&weights)
                .bind::<Array<Text>, _>(&candidates)
                .bind::<Array<Nullable<Text>>, _>(&evidence)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Reviewers' decisions on the results of a config's runs (any version), newest first: the
    /// labels a model learns from.
    pub async fn review_labels(
        conn: &mut AsyncPgConnection,
        config_id: crate::ids::MatchingConfigId,
        limit: i64,
    ) -> Result<Vec<ReviewLabel>, StoreError> {
        use crate::schema::matching_runs;
        Ok(match_results::table
            .inner_join(matching_runs::table)
            .filter(matching_runs::config_id.eq(config_id))
            .filter(match_results::status.eq_any([ReviewStatus::Approved, ReviewStatus::Rejected]))
            .order(match_results::reviewed_at.desc())
            .limit(limit)
            .select((
                matching_runs::job_run_id,
                match_results::document_position,
                match_results::status,
                match_results::matched_reference_row_id,
                match_results::candidates,
            ))
            .load::<ReviewLabel>(conn)
            .await?)
    }

    /// The results an AI pass looks at: those given, or every result of the run that is in the
    /// review band, ambiguous, or unmatched with candidates — never one a reviewer decided, nor
    /// one the pass already decided.
    pub async fn for_ai_pass(
        conn: &mut AsyncPgConnection,
        run_id: MatchingRunId,
        ids: Option<&[MatchResultId]>,
    ) -> Result<Vec<MatchResult>, StoreError> {
        let mut query = match_results::table
            .filter(match_results::run_id.eq(run_id))
            .filter(match_results::status.ne_all([ReviewStatus::Approved, ReviewStatus::Rejected]))
            .filter(match_results::resolved_by.ne(ResolvedBy::Reviewer))
            .filter(match_results::ai_decided_at.is_null())
            .order(match_results::document_position.asc())
            .select(MatchResult::as_select())
            .into_boxed();
        match ids {
            Some(ids) => query = query.filter(match_results::id.eq_any(ids.to_vec())),
            None => {
                query = query.filter(
                    match_results::status
                        .eq(ReviewStatus::NeedsReview)
                        .or(match_results::ambiguous.eq(true))
                        .or(match_results::matched_reference_row_id.is_null().and(
                            diesel::dsl::sql::<diesel::sql_types::Bool>(
                                "json_array_length(match_results.candidates) > 0",
                            ),
                        )),
                )
            }
        }
        Ok(query.load(conn).await?)
    }

    /// Stores what the model decided for a result (never one a reviewer decided). When `apply`
    /// is set the chosen row becomes the match (`resolved_by: ai`), otherwise it stays a
    /// suggestion with its flag.
    pub async fn record_ai_decision(
        conn: &mut AsyncPgConnection,
        id: MatchResultId,
        decision: &AiDecision,
    ) -> Result<bool, StoreError> {
        let target = match_results::table
            .find(id)
            .filter(match_results::status.ne_all([ReviewStatus::Approved, ReviewStatus::Rejected]))
            .filter(match_results::resolved_by.ne(ResolvedBy::Reviewer));
        let now = chrono::Utc::now();
        let notes = (
            match_results::ai_model.eq(decision.model.clone()),
            match_results::ai_rationale.eq(decision.rationale.clone()),
            match_results::ai_confidence.eq(decision.confidence),
            match_results::ai_suggested_row_id.eq(decision.chosen.clone()),
            match_results::ai_flag.eq(decision.flag.clone()),
            match_results::ai_decided_at.eq(now),
        );
        let updated = if decision.apply {
            diesel::update(target)
                .set((
                    notes,
                    match_results::matched_reference_row_id.eq(decision.chosen.clone()),
                    match_results::confidence.eq(decision.match_confidence),
                    match_results::resolved_by.eq(ResolvedBy::Ai),
                    match_results::ambiguous.eq(false),
                    match_results::status.eq(ReviewStatus::Unreviewed),
                ))
                .execute(conn)
                .await?
        } else {
            diesel::update(target).set(notes).execute(conn).await?
        };
        Ok(updated > 0)
    }
}

/// What the AI pass decided for one result.
#[derive(Debug, Clone, Default)]
pub struct AiDecision {
    pub model: Option<String>,
    pub rationale: Option<String>,
    pub confidence: Option<f64>,
    /// The row the model chose; `None` for "none of them" (or no usable answer).
    pub chosen: Option<String>,
    /// Apply the choice as the match.
    pub apply: bool,
    /// The confidence the match gets when applied.
    pub match_confidence: f64,
    /// Why the choice was not applied.
    pub flag: Option<String>,
}

/// Marks the run changed (its `updated_at`) when one of its results is reviewed after the run
/// ended: what reads a run's results by its version (the gateway's cached run detail) reads them
/// again.
async fn touch_run(conn: &mut AsyncPgConnection, run_id: MatchingRunId) -> Result<(), StoreError> {
    use crate::schema::matching_runs;
    diesel::update(matching_runs::table.find(run_id))
        .set(matching_runs::updated_at.eq(chrono::Utc::now()))
        .execute(conn)
        .await?;
    Ok(())
}
