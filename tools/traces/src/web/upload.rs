//! `POST /import`: the search page's upload form (a plain `multipart/form-data` form, no
//! script), stored as `POST /api/traces` stores a document, with the same limits and the same
//! refusal of cross-site posts; then the first trace of the file opens.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use super::problem;
use crate::{api::import::store_document, store::Store};

pub async fn import(State(store): State<Arc<Store>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some(file) = form_file(content_type, &body, "file") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Nothing to import",
            "Choose a file: a trace as `traces export` prints it, or OTLP/JSON.",
        );
    };
    match store_document(&store, &headers, file) {
        Ok((_, Some(trace))) => Redirect::to(&format!("/trace/{trace}")).into_response(),
        Ok((_, None)) => Redirect::to("/search").into_response(),
        Err(error) => problem(error.status, "Not imported", &error.message),
    }
}

/// The content of the form field `name` of a `multipart/form-data` body.
fn form_file<'a>(content_type: &str, body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let (kind, parameters) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parameters
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("\r\n--{boundary}");
    let field = format!("name=\"{name}\"");
    // The body starts with the delimiter without its line break.
    let mut rest = body.strip_prefix(&delimiter.as_bytes()[2..])?;
    loop {
        let end = find(rest, delimiter.as_bytes())?;
        let part = &rest[..end];
        let head_end = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..head_end]);
        if head.lines().any(|line| {
            line.to_ascii_lowercase().starts_with("content-disposition") && line.contains(&field)
        }) {
            return Some(&part[head_end + 4..]);
        }
        rest = &rest[end + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_field_is_read_from_a_form() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nno\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\r\n1}\r\n--XyZ--\r\n";
        let content_type = "multipart/form-data; boundary=XyZ";
        assert_eq!(
            form_file(content_type, body, "file"),
            Some(&b"{\"a\":\r\n1}"[..])
        );
        assert_eq!(form_file(content_type, body, "missing"), None);
        assert_eq!(form_file("application/json", body, "file"), None);
    }
}
