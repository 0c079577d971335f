//! Trace and span ids: 16 and 8 bytes, written as lower-case hex everywhere people see them.

use std::fmt;

/// A W3C trace id (16 bytes, never all zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// A span id (8 bytes, never all zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// The id OTLP carries: exactly 16 bytes, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let id: [u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("has {} bytes, a trace id has 16", bytes.len()))?;
        if id == [0; 16] {
            return Err("is all zeros, which OTLP forbids".to_owned());
        }
        Ok(Self(id))
    }

    /// What Jaeger's query API accepts in a path: up to 32 hex digits (a shorter id is
    /// zero-padded on the left, as Jaeger does), or the 16 bytes in base64.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > 32 {
            return Err(format!(
                "TraceID cannot be longer than 32 hex characters: {text}"
            ));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let padded = format!("{text:0>32}");
            let mut id = [0u8; 16];
            hex::decode_to_slice(padded, &mut id).map_err(|e| e.to_string())?;
            return Self::from_bytes(&id);
        }
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .and_then(|bytes| Self::from_bytes(&bytes).ok())
            .ok_or_else(|| format!("{text:?} is neither 1 to 32 hex digits nor a base64 trace id"))
    }
}

impl SpanId {
    /// The id OTLP carries: exactly 8 bytes, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let id: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("has {} bytes, a span id has 8", bytes.len()))?;
        if id == [0; 8] {
            return Err("is all zeros, which OTLP forbids".to_owned());
        }
        Ok(Self(id))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_id_is_read_like_jaeger_reads_it() {
        let full = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(TraceId::parse(full).unwrap().to_string(), full);
        assert_eq!(
            TraceId::parse("1").unwrap().to_string(),
            "00000000000000000000000000000001"
        );
        assert_eq!(
            TraceId::parse("CvdlGRbNQ92ESOshHIAxnA==")
                .unwrap()
                .to_string(),
            full
        );
        assert!(TraceId::parse(&format!("{full}0")).is_err());
        assert!(TraceId::parse("").is_err());
        assert!(TraceId::parse("0").is_err(), "all zeros");
        assert!(TraceId::parse("xyz").is_err());
    }

    #[test]
    fn otlp_ids_must_have_their_exact_length() {
        assert!(TraceId::from_bytes(&[1; 15]).is_err());
        assert!(TraceId::from_bytes(&[1; 17]).is_err());
        assert!(TraceId::from_bytes(&[0; 16]).is_err());
        assert!(SpanId::from_bytes(&[1; 7]).is_err());
        assert!(SpanId::from_bytes(&[0; 8]).is_err());
        assert_eq!(
            SpanId::from_bytes(&[0xab; 8]).unwrap().to_string(),
            "abababababababab"
        );
    }
}
