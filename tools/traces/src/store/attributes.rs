//! Search by attribute (`query.attributes`): a span matches when it carries every pair among its
//! own attributes, its resource's and its events'. A value matches an attribute's text: `503`
//! an int 503, `true` a bool true, `0.5` a double 0.5.
//!
//! Spans keep their attributes encoded (see the store), so a search decodes only the spans that
//! can match: those whose resource has the pair, or whose encoding contains the key's bytes (an
//! attribute key is stored verbatim in protobuf) and an encoding of a value that reads as the
//! text (the string's bytes, or the int's, bool's or double's field), after every cheaper
//! condition has held.

use memchr::memmem::Finder;
use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use prost::Message as _;

use super::StoredSpan;

/// A query's pairs, with the byte patterns a span's encoding must contain to carry each.
pub(super) struct Compiled<'a> {
    pairs: Vec<Pair<'a>>,
}

struct Pair<'a> {
    key: &'a str,
    value: &'a str,
    key_bytes: Finder<'a>,
    /// The value's text, and the fields of the int, bool or double it reads as.
    value_bytes: Vec<Finder<'static>>,
}

impl<'a> Compiled<'a> {
    pub(super) fn new(pairs: &'a [(String, String)]) -> Self {
        let pairs = pairs
            .iter()
            .map(|(key, value)| Pair {
                key,
                value,
                key_bytes: Finder::new(key.as_bytes()),
                value_bytes: value_fields(value),
            })
            .collect();
        Self { pairs }
    }

    /// Whether the span carries every pair.
    pub(super) fn matches(&self, span: &StoredSpan) -> bool {
        if self.pairs.is_empty() {
            return true;
        }
        let resource = &span.origin.resource.attributes;
        let encoded = &span.fields.rest[..];
        let mut rest = Vec::new();
        for pair in &self.pairs {
            if has(resource, pair.key, pair.value) {
                continue;
            }
            if pair.key_bytes.find(encoded).is_none()
                || !pair
                    .value_bytes
                    .iter()
                    .any(|finder| finder.find(encoded).is_some())
            {
                return false;
            }
            rest.push(pair);
        }
        if rest.is_empty() {
            return true;
        }
        // Encoded by the store from a decoded message: decoding it again cannot fail.
        let Ok(decoded) = Span::decode(encoded) else {
            return false;
        };
        rest.into_iter().all(|pair| {
            has(&decoded.attributes, pair.key, pair.value)
                || decoded
                    .events
                    .iter()
                    .any(|event| has(&event.attributes, pair.key, pair.value))
        })
    }
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

/// What a span's encoding contains if it holds an attribute value that reads as `text`: the
/// text itself (a string value), or the `AnyValue` field of the int, bool or double it reads as.
fn value_fields(text: &str) -> Vec<Finder<'static>> {
    let mut fields = vec![text.as_bytes().to_vec()];
    if let Ok(int) = text.parse::<i64>() {
        // Field 3 (int_value), a varint of the two's complement.
        let mut field = vec![3 << 3];
        let mut rest = int as u64;
        loop {
            let byte = (rest & 0x7f) as u8;
            rest >>= 7;
            field.push(if rest == 0 { byte } else { byte | 0x80 });
            if rest == 0 {
                break;
            }
        }
        fields.push(field);
    }
    match text {
        // Field 2 (bool_value), a varint.
        "true" => fields.push(vec![2 << 3, 1]),
        "false" => fields.push(vec![2 << 3, 0]),
        _ => {}
    }
    match text.parse::<f64>() {
        // A NaN's bits vary: any encoding may hold it; let the decoded value decide.
        Ok(double) if double.is_nan() => fields.push(Vec::new()),
        Ok(double) => {
            // Field 4 (double_value), 8 bytes little-endian.
            let mut field = vec![(4 << 3) | 1];
            field.extend(double.to_le_bytes());
            fields.push(field);
        }
        Err(_) => {}
    }
    fields
        .into_iter()
        .map(|field| Finder::new(&field).into_owned())
        .collect()
}

/// Whether a span's encoding can hold an attribute value that reads as `text`.
#[cfg(test)]
fn may_hold(encoded: &[u8], text: &str) -> bool {
    value_fields(text)
        .iter()
        .any(|finder| finder.find(encoded).is_some())
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
    fn an_encoding_with_the_value_may_hold_it() {
        let encoded = |value| {
            Span {
                attributes: vec![typed("k", value)],
                ..Span::default()
            }
            .encode_to_vec()
        };
        for (value, text) in [
            (Value::IntValue(503), "503"),
            (Value::IntValue(-1), "-1"),
            (Value::IntValue(0), "0"),
            (Value::BoolValue(false), "false"),
            (Value::DoubleValue(0.25), "0.25"),
            (Value::StringValue("a b".into()), "a b"),
        ] {
            let bytes = encoded(value.clone());
            assert!(may_hold(&bytes, text), "{value:?} {text}");
        }
        assert!(!may_hold(&encoded(Value::IntValue(503)), "599"));
        assert!(!may_hold(&encoded(Value::BoolValue(false)), "true"));
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
