//! How OTLP/JSON writes and reads numbers, ids, bytes and enums, for the mirror types' fields.

use serde::Deserialize;

pub(super) fn is_zero(value: &u32) -> bool {
    *value == 0
}

pub(super) fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

pub(super) fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

/// `null` reads as the default, as protobuf's JSON mapping says.
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Ids: lower-case hex.
pub(super) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        hex::decode(&text).map_err(|e| serde::de::Error::custom(format!("id {text:?}: {e}")))
    }
}

/// An integer written as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Integer<T> {
    Number(T),
    Text(String),
}

impl<T: std::str::FromStr> Integer<T> {
    fn value<E: serde::de::Error>(self) -> Result<T, E> {
        match self {
            Self::Number(value) => Ok(value),
            Self::Text(text) => text
                .parse()
                .map_err(|_| E::custom(format!("{text:?} is not an integer"))),
        }
    }
}

/// 64-bit times: written as decimal strings, read from strings or numbers.
pub(super) mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Integer;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        match Option::<Integer<u64>>::deserialize(deserializer)? {
            Some(integer) => integer.value(),
            None => Ok(0),
        }
    }
}

/// `intValue`: written as a decimal string, read from a string or a number.
pub(super) mod i64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Integer;

    pub fn serialize<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<Integer<i64>>::deserialize(deserializer)?
            .map(Integer::value)
            .transpose()
    }
}

/// `doubleValue`: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`, which JSON numbers cannot say.
pub(super) mod double {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) if value.is_nan() => serializer.serialize_str("NaN"),
            Some(value) if value.is_infinite() && *value > 0.0 => {
                serializer.serialize_str("Infinity")
            }
            Some(value) if value.is_infinite() => serializer.serialize_str("-Infinity"),
            Some(value) => serializer.serialize_f64(*value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Double {
            Number(f64),
            Text(String),
        }
        Ok(match Option::<Double>::deserialize(deserializer)? {
            None => None,
            Some(Double::Number(value)) => Some(value),
            Some(Double::Text(text)) => Some(match text.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other
                    .parse()
                    .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))?,
            }),
        })
    }
}

/// `bytesValue`: base64.
pub(super) mod base64_bytes {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Enums: written as numbers, read from numbers or their protobuf names.
pub(super) fn enum_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    from_name: fn(&str) -> Option<i32>,
) -> Result<i32, D::Error> {
    match Option::<Integer<i32>>::deserialize(deserializer)? {
        None => Ok(0),
        Some(Integer::Number(value)) => Ok(value),
        Some(Integer::Text(name)) => from_name(&name)
            .or_else(|| name.parse().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown enum value {name:?}"))),
    }
}
