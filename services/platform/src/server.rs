//! Start-up, the HTTP stack every service shares, and graceful shutdown.
//!
//! A service's `main` hands [`run`] its name and a function that builds its routes; `run` does the
//! rest the same way for all four: `.env`, telemetry, settings, the scenario flags (see
//! [`crate::flags`]), health probes, the OpenAPI document at `/openapi.json` (see
//! [`crate::openapi`]), the layers below, listening, and stopping on SIGINT/SIGTERM within 5 s
//! (docs/api.md).
//!
//! Layers, outermost first:
//! 1. the SERVER span (`METHOD /route`, continuing an incoming `traceparent`), marked failed when
//!    the client hangs up before the answer,
//! 2. the `traceresponse` header naming that span,
//! 3. panics answered as a 500 problem,
//! 4. a deadline: a request that cannot finish in [`REQUEST_DEADLINE`] answers 503, never hangs,
//! 5. the 64 KiB body limit.

use std::{any::Any, process::ExitCode, sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use futures_util::{
    FutureExt,
    future::{BoxFuture, join_all},
};
use mongodb::Database;
use opentelemetry::trace::TraceContextExt;
use tokio::{net::TcpListener, time::Instant};
use tower::ServiceBuilder;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};

use crate::{
    ApiError, AuthorClient,
    extract::MAX_BODY_BYTES,
    flags::ScenarioFlags,
    http_spans,
    openapi::{self, Unavailable},
    problem::{problem_response, retry_after},
    settings::{HttpSettings, SettingsError, Variable},
    telemetry::{ServiceInfo, Telemetry},
};

/// The longest a request may take before it answers 503. Above the author call's and the database's
/// own timeouts (2 s each), below the 5 s a request may take (docs/api.md).
pub const REQUEST_DEADLINE: Duration = Duration::from_millis(4500);

/// From SIGINT/SIGTERM to exit, everything (draining, then flushing spans) fits in this: the
/// API allows 5 s, and the process needs a moment to exit after it.
const STOP_BUDGET: Duration = Duration::from_millis(4500);

/// After SIGINT/SIGTERM, how long in-flight requests may take before the process stops anyway.
/// The rest of [`STOP_BUDGET`] is left for flushing the last spans.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(4000);

/// After SIGINT/SIGTERM, how long the service goes on serving every connection, new ones too,
/// before it stops accepting and closes its idle ones. Each answer in that time says
/// `Connection: close`, so a balancer's keep-alive connections are retired by an answer as it
/// uses them. Closing an idle connection at once instead races the balancer writing a request
/// to it, and a `POST` lost that way cannot be sent again safely: the client gets a 502.
/// Part of [`DRAIN_TIMEOUT`].
const RETIRING: Duration = Duration::from_millis(1000);

/// A service's routes (each documented with `#[utoipa::path]`) and what `/readyz` must check.
pub struct App {
    /// The service's own routes; the probes and `/openapi.json` are added to them.
    pub routes: OpenApiRouter,
    /// What `/readyz` checks.
    pub readiness: Readiness,
}

/// The dependencies `/readyz` checks: 200 only when all of them answer.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, ReadinessCheck)>,
}

/// One dependency's check: whether it answers right now.
type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

impl Readiness {
    /// Also check that MongoDB answers a ping.
    pub fn mongo(self, database: Database) -> Self {
        self.check("MongoDB", move || {
            let database = database.clone();
            async move { crate::mongo::ping(&database).await }.boxed()
        })
    }

    /// Also check that author-service's `/healthz` answers.
    pub fn author(self, client: AuthorClient) -> Self {
        self.check("author-service", move || {
            let client = client.clone();
            async move { client.is_up().await }.boxed()
        })
    }

    /// Any other dependency, by the name `/readyz` reports when it fails.
    pub fn check<F>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, bool> + Send + Sync + 'static,
    {
        self.checks.push((name, Arc::new(check)));
        self
    }
}

/// Runs a service until SIGINT/SIGTERM, unless its command line asks for something else (see
/// [`crate::cli`]; `settings` are what `--help` lists). Settings errors stop it at start with one
/// line.
pub async fn run<Build>(
    service: ServiceInfo,
    settings: &[&'static [Variable]],
    build: Build,
) -> ExitCode
where
    Build: AsyncFnOnce(&Telemetry, &ScenarioFlags) -> Result<App, SettingsError>,
{
    if let Some(exit) = crate::cli::dispatch(&service, settings) {
        return exit;
    }
    // A missing .env file is normal; the environment alone is enough.
    let _ = dotenvy::dotenv();
    let fail = |error: SettingsError| {
        eprintln!("{}: cannot start: {error}", service.name);
        ExitCode::from(2)
    };
    let telemetry = match Telemetry::init(&service) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(error),
    };
    let started = async {
        let http = HttpSettings::from_env(service.default_port)?;
        let flags = ScenarioFlags::watch_from_env()?;
        let app = build(&telemetry, &flags).await?;
        let listener = TcpListener::bind((http.host, http.port))
            .await
            .map_err(|error| {
                SettingsError::new(
                    "PORT",
                    format!("cannot listen on {}:{}: {error}", http.host, http.port),
                )
            })?;
        Ok::<_, SettingsError>((listener, app))
    }
    .await;
    let (listener, app) = match started {
        Ok(started) => started,
        Err(error) => return fail(error),
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(service = service.name, version = service.version, %address, "listening");

    let (served, stopping) = serve(listener, router(&service, app)).await;
    telemetry.shutdown(stopping + STOP_BUDGET).await;
    match served {
        Ok(()) => {
            tracing::info!(service = service.name, "stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: server error: {error}", service.name);
            ExitCode::FAILURE
        }
    }
}

/// The service's routes with the shared ones, the problem fallbacks and the shared layers.
pub fn router(service: &ServiceInfo, app: App) -> Router {
    let (routes, document) = with_shared_routes(service, app.routes, app.readiness);
    let document = Document(Bytes::from(
        serde_json::to_vec(&document).expect("a JSON value serializes"),
    ));
    routes
        .layer(Extension(document))
        .fallback(|| async { problem_response(StatusCode::NOT_FOUND, "No such route.") })
        .method_not_allowed_fallback(|| async {
            problem_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "This route does not accept that method.",
            )
        })
        .layer(
            ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(http_spans::server_span)
                        .on_request(())
                        .on_response(http_spans::record_response)
                        .on_body_chunk(())
                        .on_eos(())
                        .on_failure(()),
                )
                .layer(middleware::from_fn(http_spans::mark_unanswered))
                .layer(middleware::from_fn(traceresponse))
                .layer(CatchPanicLayer::custom(|panic: Box<dyn Any + Send>| {
                    // The panic hook printed it to stderr; this puts it in the request's trace.
                    let message = panic
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("a panic without a message");
                    tracing::error!(panic = message, "request failed: the handler panicked");
                    problem_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "An unexpected error occurred; it has been logged.",
                    )
                }))
                .layer(middleware::from_fn(deadline))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

/// A service's routes with the ones every service has (`/healthz`, `/readyz`, `/openapi.json`),
/// and the OpenAPI document describing them all. `/openapi.json` needs the document as an
/// [`Extension`], which [`router`] adds.
pub fn with_shared_routes<S>(
    service: &ServiceInfo,
    routes: OpenApiRouter<S>,
    readiness: Readiness,
) -> (Router<S>, serde_json::Value)
where
    S: Clone + Send + Sync + 'static,
{
    let (router, operations) = routes
        .routes(routes!(healthz))
        .routes(routes!(readyz).with_state(readiness))
        .routes(routes!(openapi_json))
        .split_for_parts();
    (router, openapi::document(service, operations))
}

/// The body of the probes' 200.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Status {
    status: &'static str,
}

/// Liveness: the process runs.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process runs.", body = inline(Status),
        example = json!({ "status": "ok" }))))]
async fn healthz() -> axum::Json<Status> {
    axum::Json(Status { status: "ok" })
}

/// Readiness: every dependency of the service (MongoDB, author-service) answers.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Every dependency answers.", body = inline(Status),
            example = json!({ "status": "ready" })),
        Unavailable,
    ))]
async fn readyz(State(readiness): State<Readiness>) -> Response {
    let answers = join_all(readiness.checks.iter().map(|(_, check)| check())).await;
    let missing: Vec<&str> = readiness
        .checks
        .iter()
        .zip(answers)
        .filter(|(_, answered)| !answered)
        .map(|((name, _), _)| *name)
        .collect();
    if missing.is_empty() {
        axum::Json(Status { status: "ready" }).into_response()
    } else {
        let missing = missing.join(" and ");
        tracing::warn!(%missing, "not ready: a dependency cannot be reached");
        let mut response = problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Not ready: {missing} cannot be reached."),
        );
        retry_after(&mut response);
        response
    }
}

/// The OpenAPI document, serialized once.
#[derive(Clone)]
struct Document(Bytes);

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "probes",
    responses((status = 200, description = "The service's OpenAPI 3.1 document.",
        content_type = "application/json", body = Object)))]
async fn openapi_json(Extension(Document(document)): Extension<Document>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document,
    )
        .into_response()
}

/// Names the trace every response was served in (W3C Trace Context Level 2 `traceresponse`), so a
/// person can go from any answer, errors included, straight to its trace.
async fn traceresponse(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        let value = format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert("traceresponse", value);
        }
    }
    response
}

async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "A dependency",
            format_args!("the request timed out after {REQUEST_DEADLINE:?}"),
        )
        .into_response(),
    }
}

/// Serves until SIGINT or SIGTERM, retires connections for [`RETIRING`], then lets in-flight
/// requests finish for up to the rest of [`DRAIN_TIMEOUT`]. Returns when the stop began: the
/// signal (or the server's failure).
async fn serve(listener: TcpListener, router: Router) -> (std::io::Result<()>, Instant) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(Some(Instant::now()));
        tokio::time::sleep(RETIRING).await;
    };
    let retiring = stop_rx.clone();
    let router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let retiring = retiring.clone();
        async move {
            let mut response = next.run(request).await;
            if retiring.borrow().is_some() {
                // hyper closes the connection once this answer is written.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }));
    // The peer address is what authen-service's login limits are keyed by.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let mut stopped = stop_rx.clone();
    let drain_cap = async move {
        let _ = stopped.wait_for(Option::is_some).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let served = tokio::select! {
        served = server => served,
        () = drain_cap => {
            tracing::warn!("in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    };
    let stopping = stop_rx.borrow().unwrap_or_else(Instant::now);
    (served, stopping)
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "stopping"),
        () = terminate => tracing::info!(signal = "SIGTERM", "stopping"),
    }
}
