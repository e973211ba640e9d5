use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::StoreError;

/// A pool of PostgreSQL connections shared by a service's handlers.
pub type DbPool = Pool<AsyncPgConnection>;
/// One connection checked out of a [`DbPool`].
pub type DbConnection = Object<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// Serialises concurrent migration runs of several services starting at once.
const MIGRATION_LOCK: i64 = 0x0063_6f6e_636f_7264;

/// How long a checkout waits for a free or new connection before failing.
const CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds a connection pool; connections are opened lazily, so this succeeds while the database
/// is down and the first checkout reports the failure.
pub fn pool(database_url: &str, max_size: usize) -> Result<DbPool, StoreError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(CHECKOUT_TIMEOUT))
        .create_timeout(Some(CHECKOUT_TIMEOUT))
        .recycle_timeout(Some(CHECKOUT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Pool(format!("building the pool: {e}")))
}

/// Checks a connection out of the pool.
pub async fn connection(pool: &DbPool) -> Result<DbConnection, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// Runs `SELECT 1`: the readiness check of the services.
pub async fn ping(pool: &DbPool) -> Result<(), StoreError> {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = connection(pool).await?;
    conn.batch_execute("SELECT 1").await?;
    Ok(())
}

/// Applies every pending migration, holding an advisory lock so that services starting together
/// do not race. The one place migrations run from.
pub async fn migrate(database_url: &str) -> Result<Vec<String>, StoreError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, StoreError> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| StoreError::Migration(format!("connecting to {}: {e}", redact(&url))))?;
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Migration(e.to_string()));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        applied
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task panicked: {e}")))?
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/concord"),
            "postgres://app:***@db:5432/concord"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/concord"),
            "postgres://postgres@127.0.0.1/concord"
        );
    }
}
