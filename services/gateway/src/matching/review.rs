//! A reviewer's decision on one match result, taken in one place for every way a reviewer
//! reaches it (the review endpoint today). `approved` confirms the match or settles on one of
//! the result's candidates; `rejected` says the proposed match is wrong and clears it. A later
//! review overwrites an earlier one.

use concord_models::ids::MatchResultId;
use concord_models::match_results::{MatchResult, Review, ReviewStatus};
use concord_models::matching_runs::MatchingRun;
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// The most characters a review's notes hold.
pub const MAX_NOTES_CHARS: usize = 4_000;

/// What a reviewer decides, as the API reads it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "approved", "notes": "same PO", "matched_reference_row_id": "L-1"}))]
pub struct ReviewRequest {
    pub status: ReviewDecision,
    /// At most 4,000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<ReviewNotes>,
    /// With `approved`: the row the reviewer settles on, one of the result's candidates (by
    /// default the matched row, or none when nothing was matched).
    #[serde(default)]
    pub matched_reference_row_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    Rejected,
}

/// A reviewer's notes: at most [`MAX_NOTES_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewNotes(String);

impl ReviewNotes {
    pub fn parse(raw: String) -> Result<ReviewNotes, String> {
        if raw.chars().count() > MAX_NOTES_CHARS {
            return Err(format!("must be at most {MAX_NOTES_CHARS} characters"));
        }
        Ok(ReviewNotes(raw))
    }
}

impl<'de> Deserialize<'de> for ReviewNotes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ReviewNotes::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Records `request` on the result `result_id` of `run`: the reviewed result, 404 when the run
/// has no such result, 422 naming `matched_reference_row_id` when it is not one of the result's
/// candidates or is given with a rejection.
pub async fn decide(
    conn: &mut AsyncPgConnection,
    run: &MatchingRun,
    result_id: MatchResultId,
    request: ReviewRequest,
) -> Result<MatchResult, ApiError> {
    let not_found = || ApiError::not_found("match result", result_id.to_string());
    let result = MatchResult::find(conn, run.id, result_id)
        .await?
        .ok_or_else(not_found)?;
    let review = review_of(&result, request)?;
    MatchResult::review(conn, run.id, result_id, review)
        .await?
        .ok_or_else(not_found)
}

/// The review `request` makes of `result`.
fn review_of(result: &MatchResult, request: ReviewRequest) -> Result<Review, ApiError> {
    let notes = request.notes.map(|ReviewNotes(text)| text);
    match request.status {
        ReviewDecision::Approved => {
            let chosen = match request.matched_reference_row_id {
                Some(row_id) => {
                    let is_candidate = result
                        .candidates
                        .0
                        .iter()
                        .any(|candidate| candidate.reference_row_id == row_id);
                    if !is_candidate {
                        return Err(ApiError::validation(
                            "matched_reference_row_id",
                            format!("`{row_id}` is not one of this result's candidates"),
                        ));
                    }
                    Some(row_id)
                }
                None => result.matched_reference_row_id.clone(),
            };
            Ok(Review {
                status: ReviewStatus::Approved,
                notes,
                matched_reference_row_id: Some(chosen),
            })
        }
        ReviewDecision::Rejected => {
            if request.matched_reference_row_id.is_some() {
                return Err(ApiError::validation(
                    "matched_reference_row_id",
                    "only an approval names a row; a rejection clears the match",
                ));
            }
            Ok(Review {
                status: ReviewStatus::Rejected,
                notes,
                matched_reference_row_id: Some(None),
            })
        }
    }
}
