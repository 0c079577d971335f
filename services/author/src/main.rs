//! author-service: decides whether an access token carries a permission.

mod routes;

use std::process::ExitCode;

use platform::{
    App, Readiness, ServiceInfo,
    settings::TokenSettings,
    token::{PublicKey, TokenVerifier},
};

const SERVICE: ServiceInfo = ServiceInfo {
    name: "author-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3004,
};

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, async |_telemetry| {
        let verifier = TokenVerifier::new(PublicKey::from_env()?, &TokenSettings::from_env());
        Ok(App {
            routes: routes::router(verifier),
            readiness: Readiness::default(),
        })
    })
    .await
}
