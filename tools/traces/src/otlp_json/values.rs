//! What spans and log records share: resources, scopes, attributes and their values.

use opentelemetry_proto::tonic::{common::v1 as common, resource::v1 as resource};
use serde::{Deserialize, Serialize};

use super::encoding::{base64_bytes, double, i64_string, is_zero, nullable};

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Resource {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Scope {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
pub(super) struct KeyValue {
    key: String,
    #[serde(deserialize_with = "nullable")]
    value: AnyValue,
}

/// One of the seven kinds of value, or none (`{}`).
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct AnyValue {
    #[serde(alias = "string_value", skip_serializing_if = "Option::is_none")]
    string_value: Option<String>,
    #[serde(alias = "bool_value", skip_serializing_if = "Option::is_none")]
    bool_value: Option<bool>,
    #[serde(
        alias = "int_value",
        with = "i64_string",
        skip_serializing_if = "Option::is_none"
    )]
    int_value: Option<i64>,
    #[serde(
        alias = "double_value",
        with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    double_value: Option<f64>,
    #[serde(alias = "array_value", skip_serializing_if = "Option::is_none")]
    array_value: Option<ArrayValue>,
    #[serde(alias = "kvlist_value", skip_serializing_if = "Option::is_none")]
    kvlist_value: Option<KeyValueList>,
    #[serde(
        alias = "bytes_value",
        with = "base64_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    bytes_value: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
pub(super) struct ArrayValue {
    values: Vec<AnyValue>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
pub(super) struct KeyValueList {
    values: Vec<KeyValue>,
}

// JSON -> protobuf messages.

impl From<Resource> for resource::Resource {
    fn from(json: Resource) -> Self {
        Self {
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
            entity_refs: Vec::new(),
        }
    }
}

impl From<Scope> for common::InstrumentationScope {
    fn from(json: Scope) -> Self {
        Self {
            name: json.name,
            version: json.version,
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
        }
    }
}

impl From<KeyValue> for common::KeyValue {
    fn from(json: KeyValue) -> Self {
        Self {
            key: json.key,
            value: Some(json.value.into()),
        }
    }
}

impl From<AnyValue> for common::AnyValue {
    fn from(json: AnyValue) -> Self {
        use common::any_value::Value;
        let value = if let Some(text) = json.string_value {
            Some(Value::StringValue(text))
        } else if let Some(flag) = json.bool_value {
            Some(Value::BoolValue(flag))
        } else if let Some(integer) = json.int_value {
            Some(Value::IntValue(integer))
        } else if let Some(double) = json.double_value {
            Some(Value::DoubleValue(double))
        } else if let Some(array) = json.array_value {
            Some(Value::ArrayValue(common::ArrayValue {
                values: convert(array.values),
            }))
        } else if let Some(list) = json.kvlist_value {
            Some(Value::KvlistValue(common::KeyValueList {
                values: convert(list.values),
            }))
        } else {
            json.bytes_value.map(Value::BytesValue)
        };
        Self { value }
    }
}

// Protobuf messages -> JSON.

impl From<Option<&resource::Resource>> for Resource {
    fn from(resource: Option<&resource::Resource>) -> Self {
        Self {
            attributes: resource
                .map(|r| convert_ref(&r.attributes))
                .unwrap_or_default(),
            dropped_attributes_count: resource.map_or(0, |r| r.dropped_attributes_count),
        }
    }
}

impl From<Option<&common::InstrumentationScope>> for Scope {
    fn from(scope: Option<&common::InstrumentationScope>) -> Self {
        Self {
            name: scope.map(|s| s.name.clone()).unwrap_or_default(),
            version: scope.map(|s| s.version.clone()).unwrap_or_default(),
            attributes: scope
                .map(|s| convert_ref(&s.attributes))
                .unwrap_or_default(),
            dropped_attributes_count: scope.map_or(0, |s| s.dropped_attributes_count),
        }
    }
}

impl From<&common::KeyValue> for KeyValue {
    fn from(proto: &common::KeyValue) -> Self {
        Self {
            key: proto.key.clone(),
            value: proto.value.as_ref().map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<&common::AnyValue> for AnyValue {
    fn from(proto: &common::AnyValue) -> Self {
        use common::any_value::Value;
        let mut json = Self::default();
        match &proto.value {
            Some(Value::StringValue(text)) => json.string_value = Some(text.clone()),
            Some(Value::BoolValue(flag)) => json.bool_value = Some(*flag),
            Some(Value::IntValue(integer)) => json.int_value = Some(*integer),
            Some(Value::DoubleValue(double)) => json.double_value = Some(*double),
            Some(Value::ArrayValue(array)) => {
                json.array_value = Some(ArrayValue {
                    values: convert_ref(&array.values),
                });
            }
            Some(Value::KvlistValue(list)) => {
                json.kvlist_value = Some(KeyValueList {
                    values: convert_ref(&list.values),
                });
            }
            Some(Value::BytesValue(bytes)) => json.bytes_value = Some(bytes.clone()),
            None => {}
        }
        json
    }
}

pub(super) fn convert<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

pub(super) fn convert_ref<'a, A: 'a, B: From<&'a A>>(items: &'a [A]) -> Vec<B> {
    items.iter().map(B::from).collect()
}
