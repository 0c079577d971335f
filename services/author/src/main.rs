//! author-service: decides whether an access token carries a permission, and refuses revoked ones.

mod revocations;
mod routes;

use std::{process::ExitCode, sync::Arc};

use futures_util::FutureExt;
use platform::{
    App, Readiness, ServiceInfo,
    cli::Variable,
    keys::PublicKeys,
    mongo::{self, CommandSpans},
    settings::{MongoSettings, PUBLIC_KEY_VARIABLES, TokenSettings},
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

/// mimalloc, not the C library's malloc. A traced request allocates its spans on the thread that
/// serves it and the batch processor's thread frees them after export, which glibc's malloc does
/// slowly: with it, tracing added 12% to the CPU of a `GET /blogs` under load, with mimalloc 6%
/// and 9% in two benches (docs/tracing.md, "Under load, and the allocator"). authen-service and
/// user-service keep glibc's: they hash with Argon2 (19 MiB a hash), and with mimalloc they idled
/// at twice the memory.
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
