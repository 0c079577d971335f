//! user-service: administrators create users; an admin from the environment is bootstrapped.

mod domain;
mod routes;
mod store;

use std::process::ExitCode;

use platform::{
    App, AuthorClient, Readiness, ServiceInfo,
    mongo::{self, CommandSpans},
    settings::{AUTHOR_URL_VARIABLES, MongoSettings, Variable, author_url_from_env},
};

const SERVICE: ServiceInfo = ServiceInfo {
    name: "user-service",
    version: env!("CARGO_PKG_VERSION"),
    default_port: 3002,
};

/// What it reads from its environment, for `--help`.
const SETTINGS: &[&[Variable]] = &[
    MongoSettings::VARIABLES,
    AUTHOR_URL_VARIABLES,
    domain::Admin::VARIABLES,
];

#[tokio::main]
async fn main() -> ExitCode {
    platform::server::run(SERVICE, SETTINGS, async |telemetry, _flags| {
        let author = AuthorClient::new(&author_url_from_env()?);
        let admin = domain::Admin::from_env()?;
        // The users collection holds password hashes: its commands are traced without their text.
        let database = mongo::connect(
            &MongoSettings::from_env()?,
            telemetry,
            SERVICE.name,
            CommandSpans::WithoutQueryText,
        )
        .await?;
        let users = store::Users::new(&database);
        users.prepare_in_background(admin);
        Ok(App {
            routes: routes::router(users, author.clone()),
            readiness: Readiness::default().mongo(database).author(author),
        })
    })
    .await
}
