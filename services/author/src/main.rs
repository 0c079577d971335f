//! author-service: decides whether an access token carries a permission, and refuses revoked ones.

mod revocations;
mod routes;

use std::{process::ExitCode, sync::Arc};

use futures_util::FutureExt;
use platform::{
    App, Readiness, ServiceInfo,
    keys::PublicKeys,
    mongo::{self, CommandSpans},
    settings::{MongoSettings, PUBLIC_KEY_VARIABLES, TokenSettings, Variable},
    token::TokenVerifier,
};
use revocations::RevocationList;

const SERVICE: ServiceInfo = ServiceInfo {
    name: "author-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3004,
};

/// What it reads from its environment, for `--help`.
const SETTINGS: &[&[Variable]] = &[
    PUBLIC_KEY_VARIABLES,
    TokenSettings::VARIABLES,
    MongoSettings::VARIABLES,
];

/// mimalloc, not glibc's malloc: tracing allocates each span on the thread serving the request
/// and frees it on the export thread, which glibc's malloc does slowly (docs/tracing.md, "Under
/// load, and the allocator"; why only this service and blog-service: the root Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, SETTINGS, async |telemetry, flags| {
        let verifier = TokenVerifier::new(PublicKeys::from_env()?, &TokenSettings::from_env());
        // The database is only polled in the background, outside any request: tracing each poll
        // would add a trace per second to Jaeger and tell nothing about a request.
        let database = mongo::connect(
            &MongoSettings::from_env()?,
            telemetry,
            SERVICE.name,
            CommandSpans::Off,
        )
        .await?;
        let revocations = Arc::new(RevocationList::default());
        revocations.keep_in_sync(&database);
        let loaded = revocations.clone();
        Ok(App {
            routes: routes::router(verifier, revocations, flags.clone()),
            readiness: Readiness::default().mongo(database).check(
                "the list of revoked tokens",
                move || {
                    let loaded = loaded.is_loaded();
                    async move { loaded }.boxed()
                },
            ),
        })
    })
    .await
}
