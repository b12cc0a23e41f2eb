//! The lookups the JSON formats share. What a format cannot do without is read strictly and
//! fails with the path it looked at; what is decoration (titles, times, links) is read
//! leniently, because pages add, rename and drop such fields without notice.

use serde_json::{Map, Value};

use super::parsed::ParseError;

/// Seconds since the epoch of 9999-12-31T23:59:59Z: a larger "date" is not one.
const MAX_EPOCH_SECONDS: i64 = 253_402_300_799;

/// The body as a JSON value; a UTF-8 byte order mark is skipped, as browsers do.
pub fn parse(body: &[u8]) -> Result<Value, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    serde_json::from_slice(body).map_err(ParseError::NotJson)
}

/// How an error names a value's kind: "`status` is a string, expected an object".
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at a dotted path (`status.indicator`); `None` when a step is absent or null, or
/// is not an object.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn shape(path: &str, expected: &'static str, found: &Value) -> ParseError {
    ParseError::Shape {
        path: path.to_owned(),
        expected,
        found: kind(found),
    }
}

/// The whole body must be an object (`body` in the message).
pub fn need_root_object(v: &Value) -> Result<(), ParseError> {
    match v {
        Value::Object(_) => Ok(()),
        other => Err(shape("body", "an object", other)),
    }
}

/// An object the format requires at `path`.
pub fn need_object<'a>(root: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ParseError> {
    match at(root, path) {
        None => Err(ParseError::Missing(path.to_owned())),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(shape(path, "an object", other)),
    }
}

/// A string the format requires at `path`.
pub fn need_str<'a>(root: &'a Value, path: &str) -> Result<&'a str, ParseError> {
    match at(root, path) {
        None => Err(ParseError::Missing(path.to_owned())),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(shape(path, "a string", other)),
    }
}

/// The objects of an array the format may omit (absent or null: none). Anything else than an
/// array of objects is a body of another format.
pub fn objects<'a>(root: &'a Value, path: &str) -> Result<Vec<&'a Value>, ParseError> {
    match at(root, path) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items_are_objects(items, path),
        Some(other) => Err(shape(path, "an array", other)),
    }
}

/// Every item of `items` is an object (`path[i]` names the first that is not).
pub fn items_are_objects<'a>(items: &'a [Value], path: &str) -> Result<Vec<&'a Value>, ParseError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(_) => Ok(item),
            other => Err(shape(&format!("{path}[{i}]"), "an object", other)),
        })
        .collect()
}

/// The first of `keys` that holds a string with something in it.
pub fn text<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| v.get(*k)?.as_str())
        .find(|s| !s.trim().is_empty())
}

/// The first of `keys` that holds an RFC 3339 time, in ms since the epoch.
pub fn time_ms(v: &Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| rfc3339_ms(v.get(*k)?.as_str()?))
}

/// An RFC 3339 time ("2026-12-05T19:35:59.123Z") in ms since the epoch.
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Seconds since the epoch, as a number or a string of digits ("1733427359"), in ms.
pub fn epoch_ms(v: &Value) -> Option<i64> {
    let seconds = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Between the epoch and year 9999: anything else is a misread, not a time.
    if !(0.0..=MAX_EPOCH_SECONDS as f64).contains(&seconds) {
        return None;
    }
    Some((seconds * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_walks_dotted_paths_and_treats_null_as_absent() {
        let v = json!({"status": {"indicator": "none", "gone": null}});
        assert_eq!(at(&v, "status.indicator"), Some(&json!("none")));
        assert_eq!(at(&v, "status.gone"), None);
        assert_eq!(at(&v, "status.indicator.deeper"), None);
    }

    #[test]
    fn errors_name_the_path_and_the_kinds() {
        let v = json!({"status": "up", "list": [{}, 3]});
        let e = need_object(&v, "status").unwrap_err().to_string();
        assert_eq!(e, "`status` is a string, expected an object");
        assert_eq!(
            need_str(&v, "page.updated_at").unwrap_err().to_string(),
            "no `page.updated_at`"
        );
        let e = objects(&v, "list").unwrap_err().to_string();
        assert_eq!(e, "`list[1]` is a number, expected an object");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(rfc3339_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(rfc3339_ms("yesterday"), None);
        assert_eq!(epoch_ms(&json!("1733427359")), Some(1_733_427_359_000));
        assert_eq!(epoch_ms(&json!(1733427359)), Some(1_733_427_359_000));
        assert_eq!(epoch_ms(&json!("1e300")), None);
        assert_eq!(epoch_ms(&json!("NaN")), None);
        assert_eq!(epoch_ms(&json!(-5)), None);
    }

    #[test]
    fn empty_and_bom() {
        assert!(matches!(parse(b" \n"), Err(ParseError::Empty)));
        assert_eq!(parse(b"\xEF\xBB\xBF[]").unwrap(), json!([]));
        assert!(
            parse(b"{\"a\":")
                .unwrap_err()
                .to_string()
                .starts_with("not JSON: ")
        );
    }
}
