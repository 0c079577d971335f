//! authen-service: checks credentials, issues RS256 access tokens, revokes them at logout and
//! publishes the JWKS.

mod client_address;
mod limiter;
mod routes;
mod store;
mod tokens;

use std::{process::ExitCode, sync::Arc};

use platform::{
    App, AuthorClient, Readiness, ServiceInfo,
    mongo::{self, CommandSpans},
    settings::{
        AUTHOR_URL_VARIABLES, MongoSettings, PUBLIC_KEY_VARIABLES, TokenSettings, Variable,
        author_url_from_env,
    },
};

const SERVICE: ServiceInfo = ServiceInfo {
    name: "authen-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3001,
};

/// What it reads from its environment, for `--help`.
const SETTINGS: &[&[Variable]] = &[
    MongoSettings::VARIABLES,
    AUTHOR_URL_VARIABLES,
    tokens::TokenSigner::VARIABLES,
    PUBLIC_KEY_VARIABLES,
    TokenSettings::VARIABLES,
    limiter::LoginLimits::VARIABLES,
    client_address::TrustedProxies::VARIABLES,
];

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, SETTINGS, async |telemetry, _flags| {
        let signer = tokens::TokenSigner::from_env()?;
        let limits = limiter::LoginLimits::from_env()?;
        let proxies = client_address::TrustedProxies::from_env()?;
        let author = AuthorClient::new(&author_url_from_env()?);
        // The users collection holds password hashes: its commands are traced without their text.
        let database = mongo::connect(
            &MongoSettings::from_env()?,
            telemetry,
            SERVICE.name,
            CommandSpans::WithoutQueryText,
        )
        .await?;
        let revocations = store::Revocations::new(&database);
        revocations.prepare_in_background();
        platform::password::warm_up().await;
        let state = routes::AppState {
            users: store::Users::new(&database),
            revocations,
            verifier: Arc::new(signer.verifier()),
            signer: Arc::new(signer),
            limiter: Arc::new(limiter::LoginLimiter::new(limits)),
            proxies: Arc::new(proxies),
            author,
        };
        Ok(App {
            routes: routes::router(state),
            readiness: Readiness::default().mongo(database),
        })
    })
    .await
}
