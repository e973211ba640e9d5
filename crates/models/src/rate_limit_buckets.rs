//! Token buckets shared by every gateway replica: one row per caller, refilled at
//! `capacity / 60` tokens a second up to `capacity` and taken from in a single statement, so two
//! gateways serving the same key draw on one budget. The row lock serialises a caller's
//! concurrent requests; other callers do not wait on each other.

use diesel::sql_types::{Bool, Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;

/// A bucket after one request: the tokens left, and whether the request could take one.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct BucketState {
    #[diesel(sql_type = Double)]
    pub tokens: f64,
    #[diesel(sql_type = Bool)]
    pub allowed: bool,
}

/// Refills the caller's bucket for the time since its last request, then takes a token when
/// there is a whole one. A new caller starts full.
const TAKE: &str = "\
WITH now AS (SELECT clock_timestamp() AS at) \
INSERT INTO rate_limit_buckets AS b (caller, tokens, allowed, updated_at) \
SELECT $1, $2 - 1, true, now.at FROM now \
ON CONFLICT (caller) DO UPDATE SET \
    allowed = LEAST($2, b.tokens + GREATEST(EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8, 0) * $2 / 60.0) >= 1, \
    tokens = LEAST($2, b.tokens + GREATEST(EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8, 0) * $2 / 60.0) \
        - CASE WHEN LEAST($2, b.tokens + GREATEST(EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8, 0) * $2 / 60.0) >= 1 THEN 1 ELSE 0 END, \
    updated_at = excluded.updated_at \
RETURNING b.tokens, b.allowed";

/// One request of `caller` against a bucket of `capacity` tokens a minute.
pub async fn take(
    conn: &mut AsyncPgConnection,
    caller: &str,
    capacity: f64,
) -> Result<BucketState, StoreError> {
    Ok(diesel::sql_query(TAKE)
        .bind::<Text, _>(caller)
        .bind::<Double, _>(capacity)
        .get_result(conn)
        .await?)
}
