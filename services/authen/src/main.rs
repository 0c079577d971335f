//! authen-service: checks credentials, issues RS256 access tokens and publishes the JWKS.

mod routes;
mod store;
mod tokens;

use std::process::ExitCode;

use platform::{
    App, Readiness, ServiceInfo,
    mongo::{self, QueryText},
    settings::MongoSettings,
};

const SERVICE: ServiceInfo = ServiceInfo {
    name: "authen-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3001,
};

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, async |telemetry| {
        let signer = tokens::TokenSigner::from_env()?;
        // The users collection holds password hashes: its commands are traced without their text.
        let database = mongo::connect(
            &MongoSettings::from_env()?,
            telemetry,
            SERVICE.name,
            QueryText::Omitted,
        )
        .await?;
        platform::password::warm_up().await;
        Ok(App {
            routes: routes::router(store::Users::new(&database), signer),
            readiness: Readiness::default().mongo(database),
        })
    })
    .await
}
