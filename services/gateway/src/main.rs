use anyhow::Context;
use concord_gateway::cli::{self, Command};
use concord_gateway::{auth, Application, GatewaySettings};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("gateway: {message}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let settings = GatewaySettings::from_env()?;
    match command {
        Command::Help => println!("{}", cli::USAGE),
        Command::Serve => {
            concord_telemetry::logging::init("gateway")
                .context("configuring telemetry (OTEL_* variables)")?;
            let stopped = Application::build(settings)
                .await?
                .run_until_stopped()
                .await;
            // The last spans, sent before the process exits.
            concord_telemetry::logging::shutdown();
            stopped?;
        }
        Command::Migrate => {
            let applied = concord_models::migrate(&settings.service.database_url).await?;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none pending".to_owned()
                } else {
                    applied.join(", ")
                }
            );
        }
        Command::CreateKey {
            organization,
            scopes,
            name,
        } => {
            concord_models::migrate(&settings.service.database_url).await?;
            let pool = concord_models::database::pool(&settings.service.database_url, 1)?;
            let (organization, key, secret) =
                auth::create_key(&pool, &organization, &name, &scopes)
                    .await
                    .context("creating the API key")?;
            println!("organization: {} ({})", organization.name, organization.id);
            println!("key id: {}", key.id);
            println!("scopes: {}", key.scopes.join(","));
            println!("{}", secret.expose());
        }
    }
    Ok(())
}
