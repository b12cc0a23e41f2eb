//! One configuration file being checked: its text, its parsed value and the errors found in
//! it, each placed at the position of the offending value.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::locate::{Target, locate};
use crate::path::JsonPath;
use crate::suggest::{Unknown, parse_unknown, with_suggestion};

pub(crate) struct Source {
    file: PathBuf,
    text: String,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Source {
    pub(crate) fn new(file: PathBuf, text: String) -> Self {
        Self {
            file,
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The directory of the file: the configuration directory, which relative paths in it
    /// are relative to.
    pub(crate) fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// An error with no position in the text (missing or unreadable file).
    pub(crate) fn whole_file(file: &Path, message: String) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            path: String::new(),
            message,
        }
    }

    /// Parses the text as JSON; a syntax error is recorded and ends the checks of this file.
    pub(crate) fn parse(&mut self) -> Option<Value> {
        match serde_json::from_str(&self.text) {
            Ok(value) => Some(value),
            Err(e) => {
                let (line, column) = self.char_column(e.line(), e.column());
                let full = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
                self.push(line, column, &JsonPath::root(), message);
                None
            }
        }
    }

    /// serde_json counts columns in bytes; errors elsewhere count characters.
    fn char_column(&self, line: usize, byte_column: usize) -> (usize, usize) {
        let Some(text) = self.text.split('\n').nth(line.saturating_sub(1)) else {
            return (line, byte_column);
        };
        let prefix = &text.as_bytes()[..byte_column.min(text.len())];
        (line, String::from_utf8_lossy(prefix).chars().count())
    }

    /// Records `message` at the value of `path`.
    pub(crate) fn error(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.error_at(path, Target::Value, message.into());
    }

    /// Records a warning at the value of `path`: the file works as written, but should not
    /// stay so (a literal secret).
    pub(crate) fn warn(&mut self, path: &JsonPath, message: impl Into<String>) {
        let (line, column) = locate(&self.text, &path.0, Target::Value);
        self.warnings.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Records `message` at the key of `path` (the last segment).
    pub(crate) fn key_error(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.error_at(path, Target::Key, message.into());
    }

    fn error_at(&mut self, path: &JsonPath, target: Target, message: String) {
        let (line, column) = locate(&self.text, &path.0, target);
        self.push(line, column, path, message);
    }

    fn push(&mut self, line: usize, column: usize, path: &JsonPath, message: String) {
        let (file, path) = (self.file.clone(), path.to_string());
        self.errors.push(ConfigError {
            file,
            line,
            column,
            path,
            message,
        });
    }

    /// Deserializes `value`, found at `at`, as `T`; on failure records the error at the
    /// offending field (at its key for an unknown field) and returns `None`.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &mut self,
        value: &Value,
        at: &JsonPath,
    ) -> Option<T> {
        let err = match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => return Some(t),
            Err(err) => err,
        };
        let mut path = at.join(err.path());
        let message = err.inner().to_string();
        match parse_unknown(&message) {
            Some((Unknown::Field, name, _)) => {
                if path.last_key() != Some(name.as_str()) {
                    path = path.key(&name);
                }
                self.key_error(&path, with_suggestion(&message));
            }
            Some((Unknown::Variant, ..)) => self.error(&path, with_suggestion(&message)),
            None => self.error(&path, message),
        }
        None
    }

    /// `value` as an object. serde would also accept an array for a struct (its fields in
    /// order), which no one means in a config file, so anything else is an error.
    /// Use it (or [`Self::is_object`]) before deserializing any struct.
    pub(crate) fn object(&mut self, value: Value, at: &JsonPath) -> Option<Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(
                    at,
                    format!("invalid type: {}, expected an object", kind(&other)),
                );
                None
            }
        }
    }

    /// Whether `value` is an object (or `null`, if `nullable`); records an error if not.
    pub(crate) fn is_object(&mut self, value: &Value, nullable: bool, at: &JsonPath) -> bool {
        match value {
            Value::Object(_) => true,
            Value::Null if nullable => true,
            other => {
                let expected = if nullable {
                    "an object or null"
                } else {
                    "an object"
                };
                self.error(
                    at,
                    format!("invalid type: {}, expected {expected}", kind(other)),
                );
                false
            }
        }
    }

    /// Removes `key` from `map` and deserializes it as the struct `T`; `None` if absent or
    /// invalid (the caller keeps the default; an invalid value has been recorded).
    pub(crate) fn take_struct<T: DeserializeOwned>(
        &mut self,
        map: &mut Map<String, Value>,
        key: &str,
        at: &JsonPath,
    ) -> Option<T> {
        let value = map.remove(key)?;
        let at = at.key(key);
        if !self.is_object(&value, false, &at) {
            return None;
        }
        self.deserialize(&value, &at)
    }

    /// Sorts the errors and the warnings by position and hands them over.
    pub(crate) fn into_findings(mut self) -> (Vec<ConfigError>, Vec<ConfigError>) {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.warnings.sort_by_key(|e| (e.line, e.column));
        (self.errors, self.warnings)
    }
}

/// serde's word for the type of a JSON value.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_is_placed_in_characters_without_serdes_suffix() {
        let mut s = Source::new("f.json".into(), "{\n  \"é\": 1,\n}".into());
        assert!(s.parse().is_none());
        let e = &s.errors[0];
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (3, 1, "trailing comma")
        );
    }
}
