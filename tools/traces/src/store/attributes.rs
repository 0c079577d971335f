//! Search by attribute (`query.attributes`): a span matches when it carries every pair among its
//! own attributes, its resource's and its events'. A value matches an attribute's text: `503`
//! an int 503, `true` a bool true, `0.5` a double 0.5.
//!
//! Spans keep their attributes encoded (see the store), so a search decodes only the spans that
//! can match: those whose resource has the key, or whose encoding contains the key's bytes (an
//! attribute key is stored verbatim in protobuf), after every cheaper condition has held.

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use prost::Message as _;

use super::StoredSpan;

/// Whether the span carries every `(key, value)` pair.
pub(super) fn matches(span: &StoredSpan, pairs: &[(String, String)]) -> bool {
    let resource = &span.origin.resource.attributes;
    let mut rest = Vec::new();
    for (key, value) in pairs {
        if has(resource, key, value) {
            continue;
        }
        if !contains(&span.fields.rest, key.as_bytes()) {
            return false;
        }
        rest.push((key, value));
    }
    if rest.is_empty() {
        return true;
    }
    // Encoded by the store from a decoded message: decoding it again cannot fail.
    let Ok(decoded) = Span::decode(&span.fields.rest[..]) else {
        return false;
    };
    rest.into_iter().all(|(key, value)| {
        has(&decoded.attributes, key, value)
            || decoded
                .events
                .iter()
                .any(|event| has(&event.attributes, key, value))
    })
}

fn has(attributes: &[KeyValue], key: &str, value: &str) -> bool {
    attributes
        .iter()
        .any(|kv| kv.key == key && kv.value.as_ref().is_some_and(|v| value_is(v, value)))
}

/// Whether an attribute's value reads as `text`.
fn value_is(value: &AnyValue, text: &str) -> bool {
    match &value.value {
        Some(Value::StringValue(s)) => s == text,
        Some(Value::BoolValue(b)) => text == if *b { "true" } else { "false" },
        Some(Value::IntValue(i)) => text.parse::<i64>() == Ok(*i),
        Some(Value::DoubleValue(d)) => d.to_string() == text || text.parse::<f64>() == Ok(*d),
        _ => false,
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, tail)) = needle.split_first() else {
        return true;
    };
    let mut at = 0;
    while let Some(offset) = haystack[at..].iter().position(|b| *b == first) {
        let start = at + offset + 1;
        if haystack[start..].starts_with(tail) {
            return true;
        }
        at = start;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::TraceId,
        store::{Query, Store},
        testing::{attribute, export, span},
    };
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    fn typed(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    /// Trace 1: a failed request whose span has an int status code and a bool, and an event with
    /// a feature flag; trace 2: two spans, one with each of two attributes.
    fn store() -> Store {
        let store = Store::new(10);
        let mut failed = span(1, 1, None, "GET /blogs", 0, 10);
        failed.attributes = vec![
            typed("http.response.status_code", Value::IntValue(503)),
            typed("retried", Value::BoolValue(true)),
            typed("ratio", Value::DoubleValue(0.25)),
        ];
        failed.events = vec![Event {
            name: "feature_flag.evaluation".into(),
            attributes: vec![attribute("feature_flag.key", "authorFailureRate")],
            ..Event::default()
        }];
        store.ingest(export("blog", vec![failed])).unwrap();
        let mut first = span(2, 1, None, "GET /", 0, 10);
        first.attributes = vec![attribute("http.route", "/")];
        let mut second = span(2, 2, Some(1), "find", 0, 10);
        second.attributes = vec![attribute("db.system", "mongodb")];
        store.ingest(export("author", vec![first, second])).unwrap();
        store
    }

    fn found(store: &Store, pairs: &[(&str, &str)]) -> Vec<u8> {
        let query = Query {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            limit: 10,
            ..Query::default()
        };
        store.find(&query).iter().map(|(id, _)| id.0[0]).collect()
    }

    #[test]
    fn a_trace_matches_when_one_span_carries_every_pair() {
        let store = store();
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], &'a str);
        let cases: [Case; 11] = [
            (&[("http.response.status_code", "503")], &[1], "an int"),
            (&[("http.response.status_code", "504")], &[], "another int"),
            (&[("retried", "true")], &[1], "a bool"),
            (&[("ratio", "0.25")], &[1], "a double"),
            (&[("http.route", "/")], &[2], "a string"),
            (&[("service.name", "blog")], &[1], "a resource attribute"),
            (
                &[("feature_flag.key", "authorFailureRate")],
                &[1],
                "an event attribute",
            ),
            (
                &[("service.name", "blog"), ("retried", "true")],
                &[1],
                "resource and span together",
            ),
            (
                &[("http.route", "/"), ("db.system", "mongodb")],
                &[],
                "pairs spread over two spans",
            ),
            (
                &[("http.route", "/"), ("service.name", "author")],
                &[2],
                "two pairs on one span",
            ),
            (&[("nowhere", "x")], &[], "an absent key"),
        ];
        for (pairs, expected, what) in cases {
            assert_eq!(found(&store, pairs), expected, "{what}");
        }
        assert!(store.trace(TraceId([1; 16])).is_some());
    }

    #[test]
    fn contains_finds_a_needle_anywhere() {
        assert!(contains(b"abcdef", b"cde"));
        assert!(contains(b"abcdef", b"abcdef"));
        assert!(contains(b"aab", b"ab"));
        assert!(!contains(b"abcdef", b"ce"));
        assert!(!contains(b"ab", b"abc"));
        assert!(contains(b"", b""));
    }

    #[test]
    fn values_match_by_their_text() {
        let v = |value| AnyValue { value: Some(value) };
        assert!(value_is(&v(Value::IntValue(503)), "503"));
        assert!(!value_is(&v(Value::IntValue(503)), "504"));
        assert!(value_is(&v(Value::BoolValue(true)), "true"));
        assert!(!value_is(&v(Value::BoolValue(false)), "true"));
        assert!(value_is(&v(Value::DoubleValue(0.5)), "0.5"));
        assert!(value_is(&v(Value::StringValue("a b".into())), "a b"));
    }
}
