//! An HTTP client that speaks the platform's API, as a user's script would.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use loadgen::error_chain;
use reqwest::{
    Method, RequestBuilder,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer: status, headers, the body as JSON (or `Null`) and as text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The answer, with its body parsed as JSON when it is JSON.
    fn new(status: u16, headers: HeaderMap, text: String) -> Self {
        Self {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

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

/// One request and its answer, as [`Api::transcript`] keeps them.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub service: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The answer's headers (`name: value` lines) and body.
    pub text: String,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    urls: HashMap<&'static str, String>,
    /// Every answer received through this client and its clones, so that a test can check that
    /// none echoes a secret.
    transcript: Arc<Mutex<Vec<Exchange>>>,
}

impl Api {
    pub fn new(ports: &HashMap<&'static str, u16>) -> Self {
        Self {
            http: reqwest::Client::new(),
            urls: ports
                .iter()
                .map(|(service, port)| (*service, format!("http://127.0.0.1:{port}")))
                .collect(),
            transcript: Arc::default(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to `service` (`"blog"`, `"user"`, ...) to finish with a token
    /// ([`WithToken::token`]), headers or a body, then send with [`execute`](Self::execute).
    pub fn request(&self, service: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.urls[service]))
    }

    /// Sends a request, reads the whole answer and records it in the transcript.
    pub async fn execute(&self, request: RequestBuilder) -> Reply {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let (method, path) = (
            request.method().to_string(),
            request.url().path().to_owned(),
        );
        let service = self.service_of(request.url().port());
        let reply = read(client.execute(request).await.expect("the service answers")).await;
        self.record(service, method, path, &reply);
        reply
    }

    /// Writes `request` (a whole HTTP/1.1 request, as bytes) to `service` over a plain TCP
    /// connection and reads the answer until the server closes it. For what reqwest will not
    /// send: chunked bodies of a chosen size, header bytes that are not ASCII. The request is
    /// written while the answer is read, and a write the server cuts short (it may answer and
    /// close before reading everything, which is the point of a size limit) is not an error.
    pub async fn send_raw(&self, service: &str, request: Vec<u8>) -> Reply {
        let address = self.urls[service].trim_start_matches("http://");
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("the service accepts connections");
        let (mut reader, mut writer) = stream.into_split();
        let head = String::from_utf8_lossy(&request[..request.len().min(200)]).into_owned();
        let write = tokio::spawn(async move {
            let _ = writer.write_all(&request).await;
            let _ = writer.flush().await;
            writer
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            reader.read_to_end(&mut answer),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("no end of the answer to {head:?} in 10 s (Connection: close?)")
        });
        drop(write.await);
        assert!(
            read.is_ok() || !answer.is_empty(),
            "no answer to {head:?}: {read:?}"
        );
        let reply = parse_raw_reply(&answer);
        let mut words = head.split(' ');
        let method = words.next().unwrap_or_default().to_owned();
        let path = words.next().unwrap_or_default().to_owned();
        self.record(service.to_owned(), method, path, &reply);
        reply
    }

    /// Every answer received so far, in order.
    pub fn transcript(&self) -> Vec<Exchange> {
        self.transcript.lock().unwrap().clone()
    }

    fn record(&self, service: String, method: String, path: String, reply: &Reply) {
        let mut text = String::new();
        for (name, value) in &reply.headers {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push('\n');
        text.push_str(&reply.text);
        self.transcript.lock().unwrap().push(Exchange {
            service,
            method,
            path,
            status: reply.status,
            text,
        });
    }

    fn service_of(&self, port: Option<u16>) -> String {
        let port = port.map(|port| format!(":{port}")).unwrap_or_default();
        self.urls
            .iter()
            .find(|(_, url)| url.ends_with(&port))
            .map(|(service, _)| service.to_string())
            .unwrap_or_default()
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
            transcript: self.transcript.clone(),
        }
    }

    /// [`execute`](Self::execute) that reports a missing or incomplete answer (connection refused
    /// or reset, timeout, body cut off) as an error instead of panicking, for load. Not recorded
    /// in the transcript, which would grow by every request of the load.
    pub async fn try_execute(&self, request: RequestBuilder) -> Result<Reply, String> {
        let response = request.send().await.map_err(|error| error_chain(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|error| error_chain(&error))?;
        Ok(Reply::new(status, headers, text))
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        let body = json!({ "username": username, "password": password });
        self.execute(self.request("authen", Method::POST, "/login").json(&body))
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

    pub async fn logout(&self, token: Option<&str>) -> Reply {
        self.execute(self.request("authen", Method::POST, "/logout").token(token))
            .await
    }

    pub async fn authorize(&self, token: Option<&str>, permission: &str) -> Reply {
        let body = json!({ "permission": permission });
        let request = self.request("author", Method::POST, "/authorize");
        self.execute(request.token(token).json(&body)).await
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
        let request = self.request("user", Method::POST, "/users");
        self.execute(request.bearer_auth(token).json(&body)).await
    }

    pub async fn post_blog(&self, token: Option<&str>, title: &str, content: &str) -> Reply {
        let body = json!({ "title": title, "content": content });
        let request = self.request("blog", Method::POST, "/blogs");
        self.execute(request.token(token).json(&body)).await
    }

    pub async fn list_blogs(&self, token: Option<&str>, query: &str) -> Reply {
        let request = self.request("blog", Method::GET, &format!("/blogs{query}"));
        self.execute(request.token(token)).await
    }

    pub async fn get_blog(&self, token: Option<&str>, id: &str) -> Reply {
        let request = self.request("blog", Method::GET, &format!("/blogs/{id}"));
        self.execute(request.token(token)).await
    }

    pub async fn get_user(&self, token: Option<&str>, id: &str) -> Reply {
        let request = self.request("user", Method::GET, &format!("/users/{id}"));
        self.execute(request.token(token)).await
    }

    /// authen-service's public keys, `GET /.well-known/jwks.json`.
    pub async fn jwks(&self) -> Reply {
        self.execute(self.request("authen", Method::GET, "/.well-known/jwks.json"))
            .await
    }
}

/// A bearer token that a test may leave out, to see the request refused without one.
pub trait WithToken {
    fn token(self, token: Option<&str>) -> Self;
}

impl WithToken for RequestBuilder {
    fn token(self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.bearer_auth(token),
            None => self,
        }
    }
}

/// Reads a response fully.
pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Reply::new(status, headers, text)
}

/// Parses an HTTP/1.1 answer read to the end of the connection. The services answer with a
/// `Content-Length`, never chunked, so that is all this understands.
fn parse_raw_reply(answer: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            HeaderValue::from_str(value.trim()).expect("a header value"),
        );
    }
    assert!(
        headers.get("transfer-encoding").is_none(),
        "a chunked answer: {head}"
    );
    Reply::new(status, headers, body.to_owned())
}
