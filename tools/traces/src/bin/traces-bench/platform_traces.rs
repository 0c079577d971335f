//! The traces the bench sends: the platform's `GET /blogs` as its three processes export it,
//! with the attributes they carry, under trace ids that can be asked for again.

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind},
};

/// Trace ids of a series: the series' number, then the trace's; any one of them replayable by
/// its index.
pub struct TraceIds {
    seed: u64,
    count: usize,
}

impl TraceIds {
    pub fn new(seed: u64) -> Self {
        Self { seed, count: 0 }
    }

    pub fn next_trace(&mut self) -> [u8; 16] {
        self.count += 1;
        self.issued(self.count - 1)
    }

    /// The id of the trace issued `back` traces ago (1: the last one).
    pub fn ago(&self, back: usize) -> [u8; 16] {
        self.issued(self.count - back)
    }

    /// The id of the `index`-th trace issued: a function of the seed and the index alone.
    pub fn issued(&self, index: usize) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.seed.to_be_bytes());
        id[8..].copy_from_slice(&(index as u64 + 1).to_be_bytes());
        id
    }
}

/// One export: `traces` traces of the platform's `GET /blogs`, grouped by service as three
/// processes' SDKs would each batch them.
pub fn export(ids: &mut TraceIds, traces: usize) -> ExportTraceServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut blog = Vec::new();
    let mut author = Vec::new();
    let mut mongodb = Vec::new();
    for _ in 0..traces {
        let trace_id = ids.next_trace();
        let span_id = |n: u8| [n; 8];
        let span = |n: u8,
                    parent: Option<u8>,
                    name: &str,
                    kind: SpanKind,
                    from: u64,
                    to: u64,
                    attributes: Vec<KeyValue>| Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id(n).to_vec(),
            parent_span_id: parent.map(|p| span_id(p).to_vec()).unwrap_or_default(),
            flags: 0x301,
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: now + from * 1_000,
            end_time_unix_nano: now + to * 1_000,
            attributes,
            ..Span::default()
        };
        blog.push(span(
            1,
            None,
            "GET /blogs",
            SpanKind::Server,
            0,
            4170,
            vec![
                text("http.request.method", "GET"),
                text("http.route", "/blogs"),
                text("url.path", "/blogs"),
                text("url.query", "limit=20&offset=0"),
                text("url.scheme", "http"),
                text("network.protocol.version", "1.1"),
                text("server.address", "127.0.0.1"),
                integer("server.port", 3003),
                text("client.address", "127.0.0.1"),
                text("user_agent.original", "traffic/0.1"),
                integer("http.response.status_code", 200),
            ],
        ));
        blog.push(span(
            2,
            Some(1),
            "POST /authorize",
            SpanKind::Client,
            10,
            466,
            vec![
                text("http.request.method", "POST"),
                text("url.full", "http://127.0.0.1:3004/authorize"),
                text("server.address", "127.0.0.1"),
                integer("server.port", 3004),
                integer("http.response.status_code", 200),
            ],
        ));
        author.push(span(
            3,
            Some(2),
            "POST /authorize",
            SpanKind::Server,
            60,
            180,
            vec![
                text("http.request.method", "POST"),
                text("http.route", "/authorize"),
                text("url.path", "/authorize"),
                text("url.scheme", "http"),
                text("server.address", "127.0.0.1"),
                integer("server.port", 3004),
                integer("http.response.status_code", 200),
            ],
        ));
        author.push(span(
            4,
            Some(3),
            "token.verify",
            SpanKind::Internal,
            80,
            135,
            vec![text("token.kid", "q1Zr0nW8v7yRSPp3")],
        ));
        for (n, parent, name, from, to) in [
            (5, 1, "find blog.blogs", 500, 2630),
            (6, 5, "find", 700, 2610),
            (7, 1, "count blog.blogs", 520, 4020),
            (8, 7, "count", 3590, 4010),
        ] {
            let command = name.split(' ').next().unwrap_or(name);
            let mut attributes = vec![
                text("db.system.name", "mongodb"),
                text("db.system", "mongodb"),
                text("db.namespace", "blog"),
                text("db.collection.name", "blogs"),
                text("db.operation.name", command),
            ];
            if parent != 1 {
                attributes.extend([
                    text("server.address", "127.0.0.1"),
                    integer("server.port", 27017),
                    text(
                        "db.query.text",
                        r#"{"find":"blogs","filter":{},"sort":{"created_at":-1},"limit":20}"#,
                    ),
                ]);
            }
            mongodb.push(span(
                n,
                Some(parent),
                name,
                SpanKind::Client,
                from,
                to,
                attributes,
            ));
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![
            process("blog-service", "axum-tracing-opentelemetry", blog),
            process("author-service", "axum-tracing-opentelemetry", author),
            process("mongodb", "mongodb", mongodb),
        ],
    }
}

pub fn process(service: &str, scope: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                text("service.name", service),
                text("service.version", "0.1.0"),
                text("telemetry.sdk.language", "rust"),
                text("telemetry.sdk.name", "opentelemetry"),
                text("telemetry.sdk.version", "0.31.0"),
            ],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope.to_owned(),
                version: "0.33.0".to_owned(),
                ..InstrumentationScope::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, Value::StringValue(value.to_owned()))
}

fn integer(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}
