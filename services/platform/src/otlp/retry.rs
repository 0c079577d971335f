//! What to do when an export fails: the specification's list of transient failures, retried with
//! exponential backoff and jitter for as long as the export's timeout allows, waiting as long as
//! the receiver asks (`Retry-After`, gRPC's `RetryInfo`) when it says.

use std::{
    error::Error as StdError,
    time::{Duration, SystemTime},
};

use rand::Rng as _;
use tonic::Code;

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Said in the log: never holds a header's value or the payload.
    pub(crate) reason: String,
    pub(crate) retry: Retry,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Retry {
    /// The receiver refused what it was sent, or cannot be trusted: another attempt would fail
    /// the same way.
    Never,
    /// Transient: try again after the backoff's delay.
    AfterBackoff,
    /// Transient, and the receiver said when.
    After(Duration),
}

impl Failure {
    pub(crate) fn new(reason: impl Into<String>, retry: Retry) -> Self {
        Self {
            reason: reason.into(),
            retry,
        }
    }

    /// A gRPC answer other than OK, by the specification's table of retryable codes.
    pub(crate) fn from_status(status: &tonic::Status) -> Self {
        use tonic_types::StatusExt as _;
        let told = status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay);
        let retry = match (status.code(), told) {
            // A connection that could not be made or was lost is UNAVAILABLE too; a handshake that
            // failed on the certificate is not transient.
            (Code::Unavailable, _) if is_tls_failure(status) => Retry::Never,
            (
                Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::DataLoss,
                None,
            ) => Retry::AfterBackoff,
            // RESOURCE_EXHAUSTED is retried only when the receiver says when it can take more.
            (
                Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::DataLoss
                | Code::ResourceExhausted,
                Some(delay),
            ) => Retry::After(delay),
            _ => Retry::Never,
        };
        // A status with a source never came from the receiver: tonic made it of a connection
        // that failed.
        let reason = match StdError::source(status) {
            Some(_) => format!("cannot reach the receiver: {}", status.message()),
            None => format!(
                "the receiver answered {:?}: {}",
                status.code(),
                status.message()
            ),
        };
        Self::new(reason, retry)
    }

    /// An HTTP answer other than 2xx: 429, 502, 503 and 504 are transient.
    pub(crate) fn from_http(
        status: http::StatusCode,
        retry_after: Option<&http::HeaderValue>,
    ) -> Self {
        let retry = match status.as_u16() {
            429 | 502 | 503 | 504 => retry_after
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, SystemTime::now()))
                .map_or(Retry::AfterBackoff, Retry::After),
            _ => Retry::Never,
        };
        Self::new(format!("the receiver answered {status}"), retry)
    }

    /// A request that got no answer: a refused, reset or timed-out connection is transient; a
    /// TLS handshake that failed is not.
    pub(crate) fn from_connection(error: &(dyn StdError + 'static)) -> Self {
        let retry = if is_tls_failure(error) {
            Retry::Never
        } else {
            Retry::AfterBackoff
        };
        Self::new(describe(error), retry)
    }
}

/// `Retry-After`: a number of seconds, or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)),
    }
}

/// Whether a rustls error (an untrusted or invalid certificate, a refused client certificate) is
/// somewhere in the chain. tokio-rustls hands it over inside an `io::Error`, whose `source()`
/// skips it, so each `io::Error`'s inner error is looked at too.
fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn StdError + 'static));
        if error.is::<rustls::Error>() || inner.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        current = error.source();
    }
    false
}

/// An error and its causes on one line: "transport error: tcp connect error: Connection refused".
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        current = cause.source();
    }
    text
}

/// The delays between attempts: doubling from [`FIRST_DELAY`] up to [`LONGEST_DELAY`], each
/// drawn at random from its upper half so that services that lost the same receiver do not all
/// come back at once. With the default 10 s timeout that is four retries over about 7.5 s, enough
/// to ride out a receiver's restart.
pub(crate) struct Backoff {
    next: Duration,
}

const FIRST_DELAY: Duration = Duration::from_millis(500);
const LONGEST_DELAY: Duration = Duration::from_secs(5);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { next: FIRST_DELAY }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(LONGEST_DELAY);
        rand::rng().random_range(ceiling / 2..=ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn http_statuses_of_the_specification_are_retried() {
        let retry = |status: u16, after: Option<&str>| {
            let header = after.map(|after| http::HeaderValue::from_str(after).unwrap());
            Failure::from_http(http::StatusCode::from_u16(status).unwrap(), header.as_ref()).retry
        };
        for status in [429, 502, 503, 504] {
            assert_eq!(retry(status, None), Retry::AfterBackoff, "{status}");
        }
        assert_eq!(retry(503, Some("2")), Retry::After(Duration::from_secs(2)));
        assert_eq!(retry(429, Some("later")), Retry::AfterBackoff);
        for status in [400, 401, 403, 404, 413, 500, 501] {
            assert_eq!(retry(status, Some("1")), Retry::Never, "{status}");
        }
    }

    #[test]
    fn grpc_codes_of_the_specification_are_retried() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            let status = tonic::Status::new(code, "busy");
            assert_eq!(
                Failure::from_status(&status).retry,
                Retry::AfterBackoff,
                "{code:?}"
            );
        }
        for code in [
            Code::ResourceExhausted,
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::Internal,
        ] {
            let status = tonic::Status::new(code, "no");
            assert_eq!(
                Failure::from_status(&status).retry,
                Retry::Never,
                "{code:?}"
            );
        }
    }

    #[test]
    fn grpc_retry_info_is_honoured_and_makes_resource_exhausted_retryable() {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let status = tonic::Status::with_error_details(
            Code::ResourceExhausted,
            "too much",
            ErrorDetails::with_retry_info(Some(Duration::from_millis(1_500))),
        );
        assert_eq!(
            Failure::from_status(&status).retry,
            Retry::After(Duration::from_millis(1_500))
        );
    }

    #[test]
    fn a_certificate_refused_in_the_handshake_is_not_retried() {
        let handshake = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Connect(#[source] std::io::Error);
        let failure = Failure::from_connection(&Connect(handshake));
        assert_eq!(failure.retry, Retry::Never);
        assert!(
            failure.reason.contains("UnknownIssuer"),
            "{}",
            failure.reason
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            Failure::from_connection(&Connect(refused)).retry,
            Retry::AfterBackoff
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_longest_delay() {
        let mut backoff = Backoff::new();
        let mut ceiling = FIRST_DELAY;
        for _ in 0..8 {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} for {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(LONGEST_DELAY);
        }
    }
}
