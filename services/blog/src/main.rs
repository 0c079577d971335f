//! blog-service: reads and creates blogs, each request checked by author-service.

mod domain;
mod routes;
mod scenarios;
mod store;

use std::process::ExitCode;

use platform::{
    App, AuthorClient, Readiness, ServiceInfo,
    mongo::{self, CommandSpans},
    settings::{AUTHOR_URL_VARIABLES, MongoSettings, Variable, author_url_from_env},
};
use scenarios::DatabaseScenarios;

const SERVICE: ServiceInfo = ServiceInfo {
    name: "blog-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3003,
};

/// Blogs are public to their readers, so their commands may show in traces; capped so a
/// 20 000-character post does not bloat every span.
const COMMAND_SPANS: CommandSpans = CommandSpans::WithQueryText(1024);

/// What it reads from its environment, for `--help`.
const SETTINGS: &[&[Variable]] = &[MongoSettings::VARIABLES, AUTHOR_URL_VARIABLES];

/// mimalloc, not glibc's malloc: tracing allocates each span on the thread serving the request
/// and frees it on the export thread, which glibc's malloc does slowly (docs/tracing.md, "Under
/// load, and the allocator"; why only this service and author-service: the root Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, SETTINGS, async |telemetry, flags| {
        let author = AuthorClient::new(&author_url_from_env()?);
        let database = mongo::connect(
            &MongoSettings::from_env()?,
            telemetry,
            SERVICE.name,
            COMMAND_SPANS,
        )
        .await?;
        let blogs = store::Blogs::new(&database, DatabaseScenarios::new(flags.clone()));
        Ok(App {
            routes: routes::router(blogs, author.clone()),
            readiness: Readiness::default().mongo(database).author(author),
        })
    })
    .await
}
