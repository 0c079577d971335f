//! A client of Jaeger's query API v3 and `/api/dependencies`: what the terminal commands read,
//! from `traces serve` or from a real Jaeger v2 alike.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{innermost, otlp_json, store::Dependency};

/// What went wrong, as one line for the person at the terminal.
#[derive(Debug, PartialEq)]
pub enum ClientError {
    /// Nothing answered at the URL.
    Unreachable(String),
    /// The server answered with an error.
    Refused(String),
    /// The server answered with something that is not Jaeger's API.
    Malformed(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(message) | Self::Refused(message) | Self::Malformed(message) => {
                f.write_str(message)
            }
        }
    }
}

/// A trace search, as the terminal's `search` takes it.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub errors: bool,
    pub min_duration: Option<Duration>,
    /// How far back from now.
    pub since: Duration,
    pub limit: usize,
}

pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base` (e.g. `http://localhost:16686`).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client without TLS settings builds");
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Where the trace opens in a browser, here or in Jaeger UI.
    pub fn trace_link(&self, trace_id: &str) -> String {
        format!("{}/trace/{trace_id}", self.base)
    }

    /// A trace's spans; `Ok(None)` when the server has no such trace.
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Vec<ResourceSpans>>, ClientError> {
        let url = format!("{}/api/v3/traces/{trace_id}", self.base);
        self.traces(&url, &[]).await
    }

    /// The spans of the traces that match (of several traces at once).
    pub async fn search(&self, search: &Search) -> Result<Vec<ResourceSpans>, ClientError> {
        let now = OffsetDateTime::now_utc();
        let since = time::Duration::try_from(search.since).unwrap_or(time::Duration::MAX);
        let start_min = now.checked_sub(since).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let rfc3339 = |time: OffsetDateTime| time.format(&Rfc3339).unwrap_or_default();
        // snake_case names: every Jaeger 2.x release reads them.
        let mut params = vec![
            ("query.start_time_min", rfc3339(start_min)),
            ("query.start_time_max", rfc3339(now)),
            ("query.num_traces", search.limit.to_string()),
        ];
        if let Some(service) = &search.service {
            params.push(("query.service_name", service.clone()));
        }
        if let Some(operation) = &search.operation {
            params.push(("query.operation_name", operation.clone()));
        }
        if let Some(min) = search.min_duration {
            params.push(("query.duration_min", format!("{}ns", min.as_nanos())));
        }
        if search.errors {
            params.push(("query.attributes", r#"{"error":"true"}"#.to_owned()));
        }
        let url = format!("{}/api/v3/traces", self.base);
        Ok(self.traces(&url, &params).await?.unwrap_or_default())
    }

    /// Calls between services over the last `since`.
    pub async fn dependencies(&self, since: Duration) -> Result<Vec<Dependency>, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Link {
            parent: String,
            child: String,
            call_count: u64,
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Option<Vec<Link>>,
        }
        let end = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let url = format!("{}/api/dependencies", self.base);
        let params = [
            ("endTs", end.to_string()),
            ("lookback", since.as_millis().to_string()),
        ];
        let response = self.get(&url, &params).await?;
        let status = response.status();
        let body = self.body(response).await?;
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| self.malformed(&url, e))?;
        let mut links: Vec<Dependency> = answer
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|link| Dependency {
                parent: link.parent,
                child: link.child,
                call_count: link.call_count,
            })
            .collect();
        links.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
        Ok(links)
    }

    /// An API v3 answer of traces; `None` on Jaeger's 404 "No traces found".
    async fn traces(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<Option<Vec<ResourceSpans>>, ClientError> {
        let response = self.get(url, params).await?;
        let status = response.status();
        let body = self.body(response).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        otlp_json::decode_result(&body)
            .map(Some)
            .map_err(|e| self.malformed(url, e))
    }

    async fn get(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<reqwest::Response, ClientError> {
        self.http
            .get(url)
            .query(params)
            .send()
            .await
            .map_err(|error| {
                ClientError::Unreachable(format!(
                    "cannot reach {} ({}): start `traces serve` or Jaeger there, or point --from \
                     at one",
                    self.base,
                    innermost(&error)
                ))
            })
    }

    async fn body(&self, response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        response.bytes().await.map(|b| b.to_vec()).map_err(|error| {
            ClientError::Unreachable(format!(
                "{} stopped answering ({})",
                self.base,
                innermost(&error)
            ))
        })
    }

    /// Jaeger's error body (`{"error": {"message"}}`, or `{"errors": [{"msg"}]}` from its older
    /// API) when there is one.
    fn refused(&self, status: reqwest::StatusCode, body: &[u8]) -> ClientError {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let message = json["error"]["message"]
            .as_str()
            .or_else(|| json["errors"][0]["msg"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(body)
                    .trim()
                    .chars()
                    .take(200)
                    .collect()
            });
        ClientError::Refused(format!("{} answered {status}: {message}", self.base))
    }

    fn malformed(&self, url: &str, error: serde_json::Error) -> ClientError {
        ClientError::Malformed(format!(
            "{url} did not answer with Jaeger's API ({error}): is --from a Jaeger v2 or `traces serve`?"
        ))
    }
}
