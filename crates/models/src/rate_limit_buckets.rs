//! Token buckets shared by every gateway replica: one row per caller, refilled at
//! `capacity / 60` tokens a second up to `capacity`. A gateway takes a few tokens at a time (a
//! lease, [`take`]'s `want`) and spends them locally, so that most requests cost no statement; a
//! token leased is gone from the shared bucket, so replicas together never exceed the limit, and
//! what a lease leaves unspent is given back with the gateway's next lease for that caller. The
//! row lock serialises one caller's leases; other callers do not wait on each other.

use diesel::sql_types::{Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;

/// A bucket after a lease: the tokens left in it, and how many whole tokens were leased.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Lease {
    /// What the shared bucket holds after the lease.
    #[diesel(sql_type = Double)]
    pub tokens: f64,
    /// Whole tokens handed out (0 when the bucket had no whole token).
    #[diesel(sql_type = Double)]
    pub granted: f64,
}

/// The bucket refilled for the time since its last lease, with the unspent tokens of this
/// gateway's previous lease (`$4`) given back (`b` the row, `excluded` this lease).
macro_rules! refilled {
    () => {
        "LEAST($2, b.tokens + $4 + GREATEST(EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8, 0) * $2 / 60.0)"
    };
}

/// Refills the caller's bucket, then leases up to `$3` whole tokens from it. A new caller
/// starts full. In one statement: the conflict path reads the locked row.
const TAKE: &str = concat!(
    "INSERT INTO rate_limit_buckets AS b (caller, tokens, granted, updated_at) ",
    "VALUES ($1, $2 - LEAST($3, FLOOR($2)), LEAST($3, FLOOR($2)), clock_timestamp()) ",
    "ON CONFLICT (caller) DO UPDATE SET ",
    "granted = LEAST($3, FLOOR(",
    refilled!(),
    ")), ",
    "tokens = ",
    refilled!(),
    " - LEAST($3, FLOOR(",
    refilled!(),
    ")), ",
    "updated_at = excluded.updated_at ",
    "RETURNING b.tokens, b.granted"
);

/// Leases up to `want` whole tokens for `caller` from a bucket of `capacity` tokens a minute,
/// giving back `returned` unspent tokens of this gateway's previous lease (so that a lease left
/// half spent costs the caller nothing).
pub async fn take(
    conn: &mut AsyncPgConnection,
    caller: &str,
    capacity: f64,
    want: f64,
    returned: f64,
) -> Result<Lease, StoreError> {
    Ok(diesel::sql_query(TAKE)
        .bind::<Text, _>(caller)
        .bind::<Double, _>(capacity)
        .bind::<Double, _>(want)
        .bind::<Double, _>(returned)
        .get_result(conn)
        .await?)
}
