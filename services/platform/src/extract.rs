//! Request extractors that answer bad input with problem details instead of axum's plain text.

use std::convert::Infallible;

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts},
};
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Largest request body any endpoint accepts (over 64 KiB gets 413, docs/api.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of a body over [`MAX_BODY_BYTES`] is read and thrown away before the 413. hyper
/// closes a connection whose request body was left unread, and a client still sending then gets
/// a reset connection instead of the answer; reading on lets an ordinary oversized upload see its
/// 413. A body declared or found larger than this is not read further: its client may see the
/// reset, which costs us nothing.
pub const MAX_DRAINED_BYTES: usize = 4 * 1024 * 1024;

/// A JSON body. Unlike `axum::Json`, every rejection is a problem document, and the detail names
/// the offending field without quoting its value, which could be a password.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_DRAINED_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let body = read_body(request.into_body()).await?;
        parse_json(&body).map(Json)
    }
}

/// The whole body if it is at most [`MAX_BODY_BYTES`]; else 413, after reading on to the end
/// (up to [`MAX_DRAINED_BYTES`]) so that the client is listening when the answer comes.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    let mut chunks = body.into_data_stream();
    let mut kept = Vec::new();
    let mut received = 0usize;
    while let Some(chunk) = chunks
        .try_next()
        .await
        .map_err(|_| ApiError::BadRequest("The request body could not be read.".to_owned()))?
    {
        received = received.saturating_add(chunk.len());
        if received <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else if received > MAX_DRAINED_BYTES {
            break;
        }
    }
    if received > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(Bytes::from(kept))
}

/// The `{id}` of a route such as `/blogs/{id}` when it is an ObjectId, else `None`: such an id
/// names nothing, and the handler answers 404 as for an unknown one. Never a rejection, so a
/// segment that is not even UTF-8 once percent-decoded (`%FF`) is a 404 problem too, not axum's
/// plain-text 400.
pub struct PathId(pub Option<ObjectId>);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|Path(id)| ObjectId::parse_str(id).ok());
        Ok(Self(id))
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T`, describing a failure by the field's path and what was
/// expected, never by the value found. Nothing may follow the document: a second document or
/// trailing bytes make the body invalid, so no two parsers can read it differently.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = parse_document(&mut deserializer)?;
    deserializer
        .end()
        .map_err(|_| ApiError::BadRequest("The request body is not valid JSON.".to_owned()))?;
    Ok(value)
}

fn parse_document<'de, T: DeserializeOwned>(
    deserializer: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let detail = match inner.classify() {
            serde_json::error::Category::Data => {
                let message = describe_data_error(&inner);
                if path == "." {
                    format!("Invalid request body: {message}.")
                } else {
                    format!("Invalid field `{path}`: {message}.")
                }
            }
            _ => "The request body is not valid JSON.".to_owned(),
        };
        ApiError::BadRequest(detail)
    })
}

/// serde's messages quote the value they rejected ("invalid type: string \"hunter2\", expected
/// ..."); keep only what was expected. Messages about keys (unknown or missing fields) name the
/// key, which is the client's own field name, never a secret value.
fn describe_data_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return message.to_owned();
    }
    match message.find("expected ") {
        Some(start) => message[start..].to_owned(),
        None => "invalid value".to_owned(),
    }
}

/// Query-string parameters, rejected as a problem document.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| {
                ApiError::BadRequest(format!("Invalid query string: {}.", rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn detail(body: &str) -> String {
        match parse_json::<Login>(body.as_bytes()) {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_field_not_the_value() {
        let detail = detail(r#"{"username": "alice", "password": 12345678}"#);
        assert!(detail.contains("password"), "{detail}");
        assert!(!detail.contains("12345678"), "{detail}");
    }

    #[test]
    fn operator_injection_is_a_type_error() {
        let detail = detail(r#"{"username": {"$ne": null}, "password": "x"}"#);
        assert!(detail.contains("`username`"), "{detail}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        assert!(
            detail(r#"{"username": "a", "password": "b", "admin": true}"#)
                .contains("unknown field `admin`")
        );
        assert!(detail(r#"{"username": "a"}"#).contains("missing field `password`"));
    }

    #[test]
    fn nothing_may_follow_the_document() {
        let valid = r#"{"username": "a", "password": "b"}"#;
        assert!(parse_json::<Login>(valid.as_bytes()).is_ok());
        assert!(parse_json::<Login>(format!("{valid} \n").as_bytes()).is_ok());
        for trailing in [
            format!("{valid} x"),
            format!("{valid}{valid}"),
            format!("{valid},"),
        ] {
            assert_eq!(detail(&trailing), "The request body is not valid JSON.");
        }
    }

    #[test]
    fn malformed_json_is_reported_without_echo() {
        let detail = detail(r#"{"username": "a", "password": "s3cret"#);
        assert_eq!(detail, "The request body is not valid JSON.");
    }

    fn body_of(size: usize) -> Body {
        // In 1 KiB chunks, as a client streaming it would send it.
        let chunks = (0..size.div_ceil(1024))
            .map(move |i| Ok::<_, Infallible>(Bytes::from(vec![b' '; 1024.min(size - i * 1024)])));
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn bodies_up_to_64_kib_are_read_and_larger_ones_refused() {
        let read = read_body(body_of(MAX_BODY_BYTES)).await.unwrap();
        assert_eq!(read.len(), MAX_BODY_BYTES);
        for size in [MAX_BODY_BYTES + 1, 1024 * 1024, MAX_DRAINED_BYTES + 4096] {
            assert!(
                matches!(
                    read_body(body_of(size)).await,
                    Err(ApiError::PayloadTooLarge)
                ),
                "{size}"
            );
        }
    }

    #[test]
    fn json_content_types() {
        let mut headers = axum::http::HeaderMap::new();
        for (value, expected) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("json", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), expected, "{value}");
        }
    }
}
