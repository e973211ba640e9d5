use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// The server tests create their databases on (`CONCORD_TEST_DATABASE_URL`, default the local
/// PostgreSQL with trust auth); each test gets a database of its own, named `concord_test_*` so
/// that `make test` can drop the ones earlier runs left.
pub fn server_url() -> String {
    std::env::var("CONCORD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database with every migration applied.
    pub async fn create() -> TestDatabase {
        let name = format!("concord_test_{}", uuid::Uuid::new_v4().simple());
        let server = server_url();
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .expect("connecting to the test PostgreSQL server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating the test database");
        let url = format!("{server}/{name}");
        concord_models::migrate(&url)
            .await
            .expect("migrating the test database");
        TestDatabase { name, url }
    }

    pub fn pool(&self) -> concord_models::DbPool {
        concord_models::database::pool(&self.url, 4).expect("a pool")
    }
}
