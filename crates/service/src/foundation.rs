//! What every service starts with: migrations applied, a database pool, a metrics registry and
//! the outbox relay (not yet running).

use anyhow::Context;
use concord_models::DbPool;
use concord_queue::OutboxRelay;
use concord_telemetry::prometheus::Registry;

use crate::ServiceSettings;

pub struct Foundation {
    pub pool: DbPool,
    pub registry: Registry,
    /// Spawn `relay.run(token)` once the service is built.
    pub relay: OutboxRelay,
}

impl Foundation {
    pub async fn start(
        settings: &ServiceSettings,
        service_name: &str,
    ) -> anyhow::Result<Foundation> {
        concord_models::migrate(&settings.database_url)
            .await
            .context("migrating the database")?;
        let pool = concord_models::database::pool(&settings.database_url, settings.db_pool_size)?;
        let registry = concord_telemetry::ops::registry()?;
        let relay = OutboxRelay::new(
            pool.clone(),
            settings.amqp_url.clone(),
            settings.topology.clone(),
            format!("{service_name}-outbox"),
            &registry,
        )?;
        Ok(Foundation {
            pool,
            registry,
            relay,
        })
    }
}
