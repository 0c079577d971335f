//! An HTTP client that speaks the platform's API, as a user's script would.

use std::collections::HashMap;

use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

/// One answer: status, headers, the body as JSON (or `Null`) and as text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The trace id named by the `traceresponse` header (`00-<trace-id>-<span-id>-<flags>`).
    pub fn trace_id(&self) -> String {
        let header = self
            .header("traceresponse")
            .expect("every response names its trace");
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "traceresponse {header:?} is not W3C-shaped");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2].len(), 16);
        parts[1].to_owned()
    }

    /// The span id named by `traceresponse`: the service's SERVER span.
    pub fn span_id(&self) -> String {
        let header = self
            .header("traceresponse")
            .expect("every response names its trace");
        header.split('-').nth(2).expect("a span id").to_owned()
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    urls: HashMap<&'static str, String>,
}

impl Api {
    pub fn new(ports: &HashMap<&'static str, u16>) -> Self {
        Self {
            http: reqwest::Client::new(),
            urls: ports
                .iter()
                .map(|(service, port)| (*service, format!("http://127.0.0.1:{port}")))
                .collect(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The same services through a client that gives up on a request after `timeout`, for load
    /// that must record a hang as a failure instead of waiting for it forever.
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a client with a timeout"),
            urls: self.urls.clone(),
        }
    }

    /// [`send`](Self::send) that reports a missing or incomplete answer (connection refused or
    /// reset, timeout, body cut off) as an error instead of panicking.
    pub async fn try_send(
        &self,
        service: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.urls[service]));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| describe(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|error| describe(&error))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            text,
        })
    }

    /// Sends a request to `service` (`"blog"`, `"user"`, ...) with an optional bearer token and JSON
    /// body, and reads the whole answer.
    pub async fn send(
        &self,
        service: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send_with_headers(service, method, path, token, body, &[])
            .await
    }

    /// [`send`](Self::send) with extra request headers (e.g. a `traceparent`).
    pub async fn send_with_headers(
        &self,
        service: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.urls[service]));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("the service answers")).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        let body = json!({ "username": username, "password": password });
        self.send("authen", Method::POST, "/login", None, Some(body))
            .await
    }

    /// Logs in and returns the access token, asserting success.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let reply = self.login(username, password).await;
        assert_eq!(reply.status, 200, "login as {username}: {}", reply.text);
        reply.body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    pub async fn create_user(
        &self,
        token: &str,
        username: &str,
        password: &str,
        permissions: &[&str],
    ) -> Reply {
        let body =
            json!({ "username": username, "password": password, "permissions": permissions });
        self.send("user", Method::POST, "/users", Some(token), Some(body))
            .await
    }

    pub async fn post_blog(&self, token: Option<&str>, title: &str, content: &str) -> Reply {
        let body = json!({ "title": title, "content": content });
        self.send("blog", Method::POST, "/blogs", token, Some(body))
            .await
    }

    pub async fn list_blogs(&self, token: Option<&str>, query: &str) -> Reply {
        self.send("blog", Method::GET, &format!("/blogs{query}"), token, None)
            .await
    }

    pub async fn get_blog(&self, token: Option<&str>, id: &str) -> Reply {
        self.send("blog", Method::GET, &format!("/blogs/{id}"), token, None)
            .await
    }
}

/// A transport error with its causes ("error sending request: ... Connection refused"), since
/// reqwest's own message leaves them out.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Reads a response fully.
pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}
