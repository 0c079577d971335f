//! A client of Jaeger's query API v3 and `/api/dependencies`: what the terminal commands read,
//! from `traces serve` or from a real Jaeger v2 alike.

use std::time::Duration;

use opentelemetry_proto::tonic::{logs::v1::ResourceLogs, trace::v1::ResourceSpans};
use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{api::monitor::MetricFamily, innermost, otlp_json, store::Dependency};

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
    /// Attributes one span must carry (`query.attributes`), as `(key, value)`.
    pub attributes: Vec<(String, String)>,
    /// How far back from now.
    pub since: Duration,
    pub limit: usize,
}

/// A piece of a trace's critical path (`GET /api/analysis/critical-path/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub span_id: String,
    pub service_name: String,
    pub operation_name: String,
    #[serde(deserialize_with = "decimal")]
    pub start_time_unix_nano: u64,
    #[serde(deserialize_with = "decimal")]
    pub end_time_unix_nano: u64,
}

/// A comparison (`GET /api/analysis/compare`).
#[derive(Debug, Clone, Deserialize)]
pub struct Diff {
    pub trace: DiffSide,
    pub baseline: DiffSide,
    pub rows: Vec<DiffRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffSide {
    /// `None` for the typical trace.
    pub trace_id: Option<String>,
    pub duration_nanos: u64,
    /// How many traces the typical trace is made of.
    #[serde(default)]
    pub traces: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffRow {
    pub service_name: String,
    pub operation_name: String,
    /// `service: operation` from the top span down to this one.
    pub path: Vec<String>,
    pub trace: Option<DiffStats>,
    pub baseline: Option<DiffStats>,
    pub self_delta_nanos: i64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffStats {
    pub count: u64,
    pub duration_nanos: u64,
    pub self_nanos: u64,
}

/// A `u64` written as a decimal string, as OTLP/JSON writes times.
fn decimal<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
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

    /// A trace's log records (`GET /api/logs`, this viewer's); `Ok(None)` when the server has
    /// none for it, or keeps no logs at all (Jaeger answers 404 there too).
    pub async fn logs(&self, trace_id: &str) -> Result<Option<Vec<ResourceLogs>>, ClientError> {
        let url = format!("{}/api/logs", self.base);
        let params = [("traceId", trace_id.to_owned())];
        self.found(&url, &params, otlp_json::decode_logs_result)
            .await
    }

    /// The spans of the traces that match (of several traces at once).
    pub async fn search(&self, search: &Search) -> Result<Vec<ResourceSpans>, ClientError> {
        let params = search_params(search, OffsetDateTime::now_utc());
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
        let answer: Answer = self.json(&url, &params).await?;
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

    /// The services the server knows (`GET /api/v3/services`).
    pub async fn services(&self) -> Result<Vec<String>, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            services: Vec<String>,
        }
        let url = format!("{}/api/v3/services", self.base);
        let answer: Answer = self.json(&url, &[]).await?;
        Ok(answer.services)
    }

    /// One of Jaeger's monitor metrics, `calls`, `errors` or `latencies`
    /// (`GET /api/metrics/{metric}`).
    pub async fn metrics(
        &self,
        metric: &str,
        params: &[(&str, String)],
    ) -> Result<MetricFamily, ClientError> {
        let url = format!("{}/api/metrics/{metric}", self.base);
        self.json(&url, params).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let body = self.successful(self.get(url, params).await?).await?;
        serde_json::from_slice(&body).map_err(|e| self.malformed(url, e))
    }

    /// A trace's critical path; `Ok(None)` when the server has no such trace. Only this
    /// viewer answers it: Jaeger has no such API.
    pub async fn critical_path(&self, trace_id: &str) -> Result<Option<Vec<Segment>>, ClientError> {
        #[derive(Deserialize)]
        struct Data {
            segments: Vec<Segment>,
        }
        let url = format!("{}/api/analysis/critical-path/{trace_id}", self.base);
        Ok(self
            .analysis::<Data>(&url, &[])
            .await?
            .map(|data| data.segments))
    }

    /// A trace beside `baseline`, or beside the typical trace of its kind; `Ok(None)` when the
    /// server has no such trace. Only this viewer answers it.
    pub async fn compare(
        &self,
        trace_id: &str,
        baseline: Option<&str>,
    ) -> Result<Option<Diff>, ClientError> {
        let url = format!("{}/api/analysis/compare", self.base);
        let mut params = vec![("trace", trace_id.to_owned())];
        if let Some(baseline) = baseline {
            params.push(("baseline", baseline.to_owned()));
        }
        self.analysis(&url, &params).await
    }

    /// Posts a document of spans to this viewer's `POST /api/traces`; how many spans it stored.
    pub async fn import(&self, document: Vec<u8>) -> Result<u64, ClientError> {
        let url = format!("{}/api/traces", self.base);
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(document)
            .send()
            .await
            .map_err(|error| {
                ClientError::Unreachable(format!(
                    "cannot reach {} ({}): start `traces serve` there, or point --to at one",
                    self.base,
                    innermost(&error)
                ))
            })?;
        let body = self.successful(response).await?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.malformed(&url, e))?;
        Ok(json["data"]["spans"].as_u64().unwrap_or_default())
    }

    /// An `/api/analysis/` answer's `data`; `None` on this viewer's 404 for an unknown trace.
    async fn analysis<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<Option<T>, ClientError> {
        #[derive(Deserialize)]
        struct Answer<T> {
            data: T,
        }
        let response = self.get(url, params).await?;
        let status = response.status();
        let body = self.body(response).await?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let ours = json["error"]["message"].is_string() || json["data"].is_object();
        if !ours {
            return Err(ClientError::Refused(format!(
                "{} has no analysis API ({status} for {url}): the critical path and diff are \
                 computed by `traces serve`, not by Jaeger; point --from at it",
                self.base
            )));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        serde_json::from_value::<Answer<T>>(json)
            .map(|answer| Some(answer.data))
            .map_err(|e| self.malformed(url, e))
    }

    /// An API v3 answer of traces; `None` on Jaeger's 404 "No traces found".
    async fn traces(
        &self,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<Option<Vec<ResourceSpans>>, ClientError> {
        self.found(url, params, otlp_json::decode_result).await
    }

    /// A GET's answer, decoded; `None` on a 404, which both servers answer for a trace they do
    /// not have.
    async fn found<T>(
        &self,
        url: &str,
        params: &[(&str, String)],
        decode: impl FnOnce(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<Option<T>, ClientError> {
        let response = self.get(url, params).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = self.successful(response).await?;
        decode(&body).map(Some).map_err(|e| self.malformed(url, e))
    }

    /// The body of a successful answer; any other is refused with the server's message.
    async fn successful(&self, response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        let status = response.status();
        let body = self.body(response).await?;
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        Ok(body)
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

/// `GET /api/v3/traces`' parameters for a search made at `now`.
fn search_params(search: &Search, now: OffsetDateTime) -> Vec<(&'static str, String)> {
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
    let mut attributes = serde_json::Map::new();
    for (key, value) in &search.attributes {
        attributes.insert(key.clone(), value.clone().into());
    }
    if search.errors {
        attributes.insert("error".to_owned(), "true".into());
    }
    if !attributes.is_empty() {
        params.push((
            "query.attributes",
            serde_json::Value::Object(attributes).to_string(),
        ));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_sends_its_attributes_as_one_json_object() {
        let search = Search {
            service: Some("blog".into()),
            errors: true,
            attributes: vec![
                ("http.response.status_code".into(), "503".into()),
                ("feature_flag.key".into(), "a \"b\"".into()),
            ],
            since: Duration::from_secs(60),
            limit: 5,
            ..Search::default()
        };
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let params = search_params(&search, now);
        let attributes = params
            .iter()
            .find(|(name, _)| *name == "query.attributes")
            .map(|(_, value)| serde_json::from_str::<serde_json::Value>(value).unwrap());
        assert_eq!(
            attributes,
            Some(serde_json::json!({
                "http.response.status_code": "503",
                "feature_flag.key": "a \"b\"",
                "error": "true",
            }))
        );
        assert!(params.contains(&("query.service_name", "blog".into())));
        assert!(params.contains(&("query.start_time_min", "2027-01-15T07:59:00Z".into())));
        let plain = search_params(&Search::default(), now);
        assert!(plain.iter().all(|(name, _)| *name != "query.attributes"));
    }
}
