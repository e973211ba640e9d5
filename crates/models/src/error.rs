use thiserror::Error;

/// Every failure of the persistence layer.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("running the database migrations failed: {0}")]
    Migration(String),
    #[error("a count does not fit its column: {0}")]
    Overflow(#[from] std::num::TryFromIntError),
    #[error("a value could not be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl StoreError {
    /// True when the failure is worth retrying later (the database is unreachable or a
    /// serialization conflict), false when the same call would fail again.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match self {
            StoreError::Pool(_) => true,
            StoreError::Migration(_) | StoreError::Overflow(_) | StoreError::Json(_) => false,
            StoreError::Query(D::DatabaseError(
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ClosedConnection,
                _,
            )) => true,
            StoreError::Query(D::BrokenTransactionManager) => true,
            StoreError::Query(_) => false,
        }
    }

    /// True when the failure is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}
