//! The HTTP spans, shaped as OpenTelemetry's HTTP semantic conventions say: the SERVER span of
//! every request a service answers, and the CLIENT span of every call it makes to another service.
//!
//! Both are `tracing` spans that `tracing-opentelemetry` exports. Their fields are declared here
//! rather than by an instrumentation crate because the crates get the conventions wrong in ways a
//! learner would copy: status codes and ports as strings (a `u16` recorded through `tracing`
//! reaches OpenTelemetry as its `Debug` text; only `i64` stays an integer), `server.address` with
//! the port in it, empty strings for absent values, and extras such as `span.type`. Here every
//! attribute has the convention's type, and an attribute without a value is not recorded at all.

use std::time::Duration;

use axum::extract::MatchedPath;
use http::{HeaderMap, Method, Request, Response, StatusCode, header, uri::Authority};
use opentelemetry_http::HeaderExtractor;
use reqwest_tracing::{ReqwestOtelSpanBackend, default_span_name};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The SERVER span of one request, continuing the caller's trace when it sent a `traceparent`.
/// Named `METHOD /route`, or just `METHOD` when no route matched (a 404), as the conventions say:
/// the path itself would make one span name per id.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = KnownMethod::of(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{} {route}", method.span_name()),
        None => method.span_name().to_owned(),
    };
    let (address, port) = server_address(request);
    let query = request
        .uri()
        .query()
        .filter(|query| !query.is_empty())
        .map(crate::telemetry::scrub_query);
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        http.request.method = method.name(),
        http.request.method_original = method.original(),
        http.route = route,
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.query = query,
        // The services speak plain HTTP; TLS, where there is any, ends at a proxy in front.
        url.scheme = "http",
        server.address = address,
        server.port = port,
        user_agent.original = header_text(request.headers(), header::USER_AGENT),
        error.type = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when the span is disabled, and then there is nothing to continue.
    let _ = span.set_parent(parent);
    span
}

/// Records the answer on the SERVER span. A 5xx is the server's failure: the span's status is an
/// error and `error.type` is the code. A 4xx is the client's mistake, so the SERVER span stays
/// unset (the CLIENT span that received it, if any, is the one marked).
pub fn record_response<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        mark_failed(span, status);
    }
}

/// Marks the SERVER span of a request that ended without an answer: its client closed the
/// connection first (a caller that gave up waiting), and hyper dropped the request's future. The
/// span then has no status code, so it says what happened instead: an error whose `error.type` is
/// `client_disconnected` (the conventions' "component-specific low cardinality error identifier"
/// for a request that fails before a status code is sent). A middleware inside the SERVER span.
pub async fn mark_unanswered(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    /// Records on drop, unless disarmed by an answer.
    struct Unanswered(Option<Span>);
    impl Drop for Unanswered {
        fn drop(&mut self) {
            if let Some(span) = self.0.take() {
                span.record("otel.status_code", "ERROR");
                span.record(
                    "otel.status_description",
                    "the client closed the connection before the answer was ready",
                );
                span.record("error.type", "client_disconnected");
            }
        }
    }
    let mut unanswered = Unanswered(Some(Span::current()));
    let response = next.run(request).await;
    unanswered.0 = None;
    response
}

/// The CLIENT span of each call made through `reqwest-middleware` (to author-service), for
/// `reqwest_tracing::TracingMiddleware`, which also injects `traceparent` into the request. The
/// name comes from the request's `reqwest_tracing::OtelName`, e.g. `POST /authorize`.
pub struct ClientSpan;

impl ReqwestOtelSpanBackend for ClientSpan {
    fn on_request_start(request: &reqwest::Request, extensions: &mut http::Extensions) -> Span {
        let url = request.url();
        let method = KnownMethod::of(request.method());
        tracing::info_span!(
            "HTTP request",
            otel.name = %default_span_name(request, extensions),
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            http.request.method = method.name(),
            http.request.method_original = method.original(),
            http.response.status_code = Empty,
            server.address = url.host_str(),
            server.port = url.port_or_known_default().map(i64::from),
            url.full = without_credentials(url).as_deref().unwrap_or(url.as_str()),
            url.scheme = url.scheme(),
            error.type = Empty,
        )
    }

    /// Any answer of 400 or above marks the CLIENT span as failed: the call did not get what it
    /// asked for. No answer at all is failed with the kind of error.
    fn on_request_end(
        span: &Span,
        outcome: &reqwest_middleware::Result<reqwest::Response>,
        _: &mut http::Extensions,
    ) {
        match outcome {
            Ok(response) => {
                let status = response.status();
                span.record("http.response.status_code", i64::from(status.as_u16()));
                if status.is_client_error() || status.is_server_error() {
                    mark_failed(span, status);
                }
            }
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", error.to_string());
                span.record("error.type", transport_error_type(error));
            }
        }
    }
}

fn mark_failed(span: &Span, status: StatusCode) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", status.as_str());
}

/// `error.type` of a call that got no answer: the conventions' `timeout` when it ran out of time,
/// `connect` when no connection could be made, else their catch-all `_OTHER`.
fn transport_error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(error) if error.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(error) if error.is_connect() => "connect",
        _ => "_OTHER",
    }
}

/// An HTTP method as the conventions record it: one of the nine of RFC 9110 and RFC 5789 as it is,
/// any other as `_OTHER` with the original in `http.request.method_original`, so that a client
/// cannot mint span names and attribute values at will.
struct KnownMethod<'a>(&'a Method);

impl<'a> KnownMethod<'a> {
    fn of(method: &'a Method) -> Self {
        Self(method)
    }

    fn is_known(&self) -> bool {
        const KNOWN: [Method; 9] = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::CONNECT,
            Method::OPTIONS,
            Method::TRACE,
            Method::PATCH,
        ];
        KNOWN.contains(self.0)
    }

    fn name(&self) -> &'a str {
        if self.is_known() {
            self.0.as_str()
        } else {
            "_OTHER"
        }
    }

    fn original(&self) -> Option<&'a str> {
        (!self.is_known()).then(|| self.0.as_str())
    }

    /// The conventions name a span of an unknown method `HTTP`.
    fn span_name(&self) -> &'a str {
        if self.is_known() {
            self.0.as_str()
        } else {
            "HTTP"
        }
    }
}

/// The host the client asked for and its port, from the `Host` header (HTTP/1.1) or the target's
/// authority (HTTP/2), the port defaulting to HTTP's 80. An IPv6 host loses its brackets. `None`
/// for a missing or malformed authority.
fn server_address<B>(request: &Request<B>) -> (Option<String>, Option<i64>) {
    let authority = request.uri().authority().cloned().or_else(|| {
        header_text(request.headers(), header::HOST)?
            .parse::<Authority>()
            .ok()
    });
    match authority {
        Some(authority) => {
            let host = authority.host();
            let host = host
                .strip_prefix('[')
                .and_then(|host| host.strip_suffix(']'))
                .unwrap_or(host);
            let port = authority.port_u16().unwrap_or(80);
            (Some(host.to_owned()), Some(i64::from(port)))
        }
        None => (None, None),
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .filter(|text| !text.is_empty())
}

/// The URL with any user name and password taken out (`url.full` must never hold credentials),
/// or `None` when it has none.
fn without_credentials(url: &reqwest::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn the_server_address_is_the_host_alone_and_the_port_an_integer() {
        assert_eq!(
            server_address(&request("/blogs", Some("127.0.0.1:39777"))),
            (Some("127.0.0.1".to_owned()), Some(39777))
        );
        assert_eq!(
            server_address(&request("/blogs", Some("blog.example"))),
            (Some("blog.example".to_owned()), Some(80))
        );
        assert_eq!(
            server_address(&request("/blogs", Some("[::1]:3003"))),
            (Some("::1".to_owned()), Some(3003))
        );
        assert_eq!(
            server_address(&request("http://author:3004/authorize", None)),
            (Some("author".to_owned()), Some(3004))
        );
        assert_eq!(server_address(&request("/blogs", None)), (None, None));
        assert_eq!(
            server_address(&request("/blogs", Some("bad host"))),
            (None, None)
        );
    }

    #[test]
    fn unknown_methods_are_recorded_as_other() {
        let get = KnownMethod::of(&Method::GET);
        assert_eq!(
            (get.name(), get.original(), get.span_name()),
            ("GET", None, "GET")
        );
        let custom = Method::from_bytes(b"BREW").unwrap();
        let brew = KnownMethod::of(&custom);
        assert_eq!(
            (brew.name(), brew.original(), brew.span_name()),
            ("_OTHER", Some("BREW"), "HTTP")
        );
    }

    #[test]
    fn credentials_never_reach_url_full() {
        let plain = reqwest::Url::parse("http://author:3004/authorize").unwrap();
        assert_eq!(without_credentials(&plain), None);
        let with = reqwest::Url::parse("http://user:secret@author:3004/authorize").unwrap();
        assert_eq!(
            without_credentials(&with).as_deref(),
            Some("http://author:3004/authorize")
        );
    }
}
