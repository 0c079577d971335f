//! The search page's Tags: Jaeger UI's `tags` URL parameter, a JSON object of strings
//! (`{"http.response.status_code":"503"}`), or what a person types in the Tags field,
//! space-separated `key=value` pairs with double quotes around a value with spaces
//! (`error=true feature_flag.key="a b"`), with `\"` and `\\` inside quotes.

/// The pairs `tags` names: a field's in the order typed, a JSON object's in key order (serde_json
/// keeps an object's own order only with its `preserve_order` feature, which another crate of a
/// workspace may switch on, so the order is made not to depend on it); a sentence saying what is
/// wrong if it names none properly.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|problem| format!("tags: not a JSON object: {problem}"))?;
        let mut pairs = map
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(value) => Ok((key, value)),
                other => Err(format!(
                    "tags: the value of {key:?} is {other}, not a string"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        pairs.sort();
        return Ok(pairs);
    }
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!(
                "tags: {key:?} is not key=value (write e.g. http.response.status_code=503 \
                 error=true, with double quotes around a value with spaces)"
            ));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(format!("tags: the value of {key:?} has no closing \""));
                        }
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("tags: the value of {key:?} has no closing \"")),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err(format!(
                    "tags: a space must follow the quoted value of {key:?}"
                ));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

/// The pairs as the Tags field shows them (what [`parse`] reads back).
pub fn format(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            if !value.is_empty()
                && !value.contains(['"', '\\'])
                && !value.contains(char::is_whitespace)
            {
                format!("{key}={value}")
            } else {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                format!("{key}=\"{escaped}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_field_reads_pairs_with_quoted_values() {
        let text = r#" http.response.status_code=503  error=true feature_flag.key="author Latency" q="a \"b\" \\" empty= "#;
        let expected = pairs(&[
            ("http.response.status_code", "503"),
            ("error", "true"),
            ("feature_flag.key", "author Latency"),
            ("q", r#"a "b" \"#),
            ("empty", ""),
        ]);
        assert_eq!(parse(text), Ok(expected.clone()));
        assert_eq!(parse(&format(&expected)), Ok(expected));
        assert_eq!(parse("  "), Ok(Vec::new()));
    }

    #[test]
    fn the_url_parameter_is_a_json_object_of_strings() {
        assert_eq!(
            parse(r#"{"http.response.status_code":"503","error":"true"}"#),
            Ok(pairs(&[
                ("error", "true"),
                ("http.response.status_code", "503")
            ]))
        );
        assert!(
            parse(r#"{"code":503}"#)
                .unwrap_err()
                .contains("not a string")
        );
        assert!(parse("{").unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn malformed_fields_say_what_is_wrong() {
        assert!(
            parse("error")
                .unwrap_err()
                .contains("\"error\" is not key=value")
        );
        assert!(parse("=x").unwrap_err().contains("not key=value"));
        assert!(parse(r#"k="open"#).unwrap_err().contains("no closing"));
        assert!(
            parse(r#"k="a"b"#)
                .unwrap_err()
                .contains("a space must follow")
        );
    }
}
