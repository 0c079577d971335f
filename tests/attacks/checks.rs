//! Checking answers: every case that did not get its expected answer, and what every group uses.

use e2e_tests::{Api, Platform, Reply};
use mongodb::bson::doc;
use reqwest::Method;
use serde_json::json;

/// Every case that did not get its expected answer, so that one run reports all of them.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) cases: usize,
    pub(crate) failures: Vec<String>,
}

impl Checks {
    /// `reply` must have `status`; an error must be a problem document, and a 401 must name the
    /// Bearer scheme. Returns whether it passed.
    pub(crate) fn expect(&mut self, case: &str, reply: &Reply, status: u16) -> bool {
        self.cases += 1;
        let mut wrong = Vec::new();
        if reply.status != status {
            wrong.push(format!("expected {status}"));
        }
        if reply.status >= 400 {
            if reply.header("content-type") != Some("application/problem+json") {
                wrong.push(format!(
                    "content-type {:?}, not application/problem+json",
                    reply.header("content-type")
                ));
            }
            let body = &reply.body;
            if body["status"] != reply.status
                || !body["type"].is_string()
                || !body["title"].is_string()
                || !body["detail"].is_string()
            {
                wrong.push("not an RFC 9457 problem document".to_owned());
            }
        }
        if reply.status == 401 && reply.header("www-authenticate") != Some("Bearer") {
            wrong.push("no `WWW-Authenticate: Bearer`".to_owned());
        }
        if !wrong.is_empty() {
            self.fail(
                case,
                &format!(
                    "{}; got {} {}",
                    wrong.join(", "),
                    reply.status,
                    shorten(&reply.text)
                ),
            );
        }
        wrong.is_empty()
    }

    pub(crate) fn fail(&mut self, case: &str, why: &str) {
        self.failures.push(format!("{case}: {why}"));
    }

    pub(crate) fn assert_all_passed(&self, group: &str) {
        assert!(
            self.failures.is_empty(),
            "{} of {} {group} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
        println!("{group}: {} cases passed", self.cases);
    }
}

pub(crate) fn shorten(text: &str) -> String {
    let short: String = text.chars().take(160).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Asserts that no answer, log line or span holds any of `secrets`, and that the spans of all
/// that hostile input still follow the semantic conventions.
pub(crate) async fn assert_nothing_leaks(platform: &Platform, secrets: Vec<String>) {
    let leaks = platform.leaks(&secrets).await;
    assert!(
        leaks.is_empty(),
        "secrets leaked ({} checked):\n{}",
        secrets.len(),
        leaks.join("\n")
    );
    e2e_tests::conventions::assert_conventions(&platform.collector.spans());
}

/// The user id a token belongs to, as author-service reads it.
pub(crate) async fn subject_of(api: &Api, token: &str) -> String {
    let reply = api
        .execute(
            api.request("author", Method::POST, "/authorize")
                .bearer_auth(token)
                .json(&json!({ "permission": "READ" })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["sub"].as_str().unwrap().to_owned()
}

pub(crate) async fn count(platform: &Platform, collection: &str) -> u64 {
    platform
        .mongo
        .collection(collection)
        .await
        .count_documents(doc! {})
        .await
        .unwrap()
}

/// A whole HTTP/1.1 request, for [`Api::send_raw`]. With `chunked`, the body goes in 8 KiB chunks
/// and no `Content-Length`.
pub(crate) fn http_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> Vec<u8> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        request.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    let mut bytes = request.into_bytes();
    if chunked {
        for chunk in body.chunks(8 * 1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
    } else {
        bytes.extend_from_slice(body);
    }
    bytes
}

/// A mebibyte: far over every limit on a body or a field.
pub(crate) const MIB: usize = 1024 * 1024;
