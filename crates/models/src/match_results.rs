use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::on_constraint;
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
    pub evidence: serde_json::Value,
    pub candidates: serde_json::Value,
    pub review_notes: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = match_results)]
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
    pub evidence: serde_json::Value,
    pub candidates: serde_json::Value,
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

/// PostgreSQL accepts at most 65,535 bind parameters per statement; twelve per row.
const ROWS_PER_INSERT: usize = 5_000;

impl MatchResult {
    /// Inserts results with multi-row statements. A result that already exists for its run and
    /// document (a redelivered chunk) is left as it is. Returns how many rows were new.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        results: &[NewMatchResult],
    ) -> Result<usize, StoreError> {
        let mut inserted = 0;
        for chunk in results.chunks(ROWS_PER_INSERT) {
            inserted += diesel::insert_into(match_results::table)
                .values(chunk)
                .on_conflict(on_constraint("match_results_run_id_document_position_key"))
                .do_nothing()
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
}
