//! The MongoDB connection every storage module shares.
//!
//! The client is built at start without touching the network, so an unreachable database never
//! stops a service: requests that need it answer 503 (server selection gives up after
//! [`SERVER_SELECTION_TIMEOUT`]), and the driver's monitor finds the server again by itself.
//! Every command is traced by the driver's own OpenTelemetry support, under a tracer provider whose
//! `service.name` is the database (see `telemetry`).

use std::{future::Future, time::Duration};

use mongodb::{
    Client, Database,
    bson::doc,
    error::{Error, ErrorKind},
    options::ClientOptions,
    otel::OpentelemetryOptions,
};

use tracing::Instrument;

use crate::{ApiError, settings::MongoSettings, settings::SettingsError, telemetry::Telemetry};

/// How long a request waits for a usable server before it answers 503.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the driver checks the server; short so a returning server is used again quickly.
pub const HEARTBEAT_FREQUENCY: Duration = Duration::from_secs(1);

/// Whether the client's commands are traced, and how much of each command a span shows.
#[derive(Debug, Clone, Copy)]
pub enum CommandSpans {
    /// No spans: for a client that only runs background work outside any request.
    Off,
    /// Spans without `db.query.text`: for collections whose documents hold secrets (hashes).
    WithoutQueryText,
    /// Spans with up to this many characters of the command as JSON in `db.query.text`.
    WithQueryText(usize),
}

/// Connects lazily: parsing the URI is the only thing that can fail here.
pub async fn connect(
    settings: &MongoSettings,
    telemetry: &Telemetry,
    app_name: &str,
    spans: CommandSpans,
) -> Result<Database, SettingsError> {
    let mut options = ClientOptions::parse(&settings.uri)
        .await
        .map_err(|error| SettingsError::new("MONGODB_URI", error.to_string()))?;
    options.app_name = Some(app_name.to_owned());
    options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
    options.connect_timeout = Some(CONNECT_TIMEOUT);
    options.heartbeat_freq = Some(HEARTBEAT_FREQUENCY);
    options.tracing = Some(
        OpentelemetryOptions::builder()
            .enabled(telemetry.enabled() && !matches!(spans, CommandSpans::Off))
            .query_text_max_length(match spans {
                CommandSpans::Off | CommandSpans::WithoutQueryText => 0,
                CommandSpans::WithQueryText(length) => length,
            })
            .tracer_provider(telemetry.database_tracer_provider())
            .build(),
    );
    let client = Client::with_options(options)
        .map_err(|error| SettingsError::new("MONGODB_URI", error.to_string()))?;
    Ok(client.database(&settings.database))
}

/// Answers whether the server responds to a ping.
pub async fn ping(database: &Database) -> bool {
    let database = database.clone();
    detached(async move { Ok(database.run_command(doc! { "ping": 1 }).await.is_ok()) })
        .await
        .unwrap_or(false)
}

/// Runs a request's database work on a task of its own, so that it finishes even when the request
/// is abandoned: its client hung up, or [`crate::server::REQUEST_DEADLINE`] passed. The task runs
/// in the request's span, so its command spans stay in the request's trace.
///
/// Why: dropping a driver future mid-operation leaves its place in the connection pool's wait
/// queue behind, and the driver (3.9) serves that queue one entry per pool event (a check-in, a
/// new request, or its 500 ms maintenance tick), finding each dead entry only when it gets there.
/// When wrk cut 64 connections off at once, blog-service's later operations, `/readyz`'s ping
/// included, queued behind about a hundred dead entries for ~50 s while the database was idle.
/// Finished operations leave no dead entries and give their connections back.
pub async fn detached<T, Work>(work: Work) -> Result<T, ApiError>
where
    Work: Future<Output = Result<T, ApiError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work.in_current_span())
        .await
        .unwrap_or_else(|error| Err(ApiError::Internal(format!("database task: {error}"))))
}

/// The error code MongoDB gives a write that breaks a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Whether the write failed only because a unique index already holds the value.
pub fn is_duplicate_key(error: &Error) -> bool {
    match &*error.kind {
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(write)) => {
            write.code == DUPLICATE_KEY
        }
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(insert) => insert
            .write_errors
            .iter()
            .flatten()
            .any(|write| write.code == DUPLICATE_KEY),
        _ => false,
    }
}

impl From<Error> for ApiError {
    /// A database that cannot be reached is a 503; anything else is a bug or a surprise: 500.
    fn from(error: Error) -> Self {
        match &*error.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::Shutdown => ApiError::unavailable("MongoDB", &error),
            _ if error.contains_label("RetryableWriteError") => {
                ApiError::unavailable("MongoDB", &error)
            }
            _ => ApiError::Internal(format!("MongoDB: {error}")),
        }
    }
}

/// Runs a start-up task that needs the database (creating indexes, the admin bootstrap) in the
/// background, retrying until it succeeds, so the service can start before its database does.
pub fn spawn_until_done<F, Fut>(what: &'static str, task: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(250);
        loop {
            match task().await {
                Ok(()) => {
                    tracing::info!(task = what, "start-up task done");
                    return;
                }
                Err(error) => {
                    tracing::warn!(task = what, %error, retry_in = ?delay, "start-up task failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
}
