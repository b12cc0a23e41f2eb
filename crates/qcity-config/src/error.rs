//! Errors of [`crate::load_dir`]: every one names file, line, column and JSON path.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file.
///
/// Displayed as `file:line:column: path: message`. `line` and `column` are 1-based; both are 0
/// when the problem has no position in the text (the file is missing or unreadable), and `path`
/// is empty when the problem concerns the whole file (a JSON syntax error, a missing file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Render(self))]
pub struct ConfigError {
    /// The file, as `dir.join(file name)` of the directory given to [`crate::load_dir`].
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// JSON path of the field, e.g. `runners[2].restart.delay_ms`.
    pub path: String,
    /// What is wrong, e.g. `invalid type: string "x", expected u64`.
    pub message: String,
}

struct Render<'a>(&'a ConfigError);

impl fmt::Display for Render<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "{}", e.file.display())?;
        if e.line > 0 {
            write!(f, ":{}:{}", e.line, e.column)?;
        }
        if !e.path.is_empty() {
            write!(f, ": {}", e.path)?;
        }
        write!(f, ": {}", e.message)
    }
}

/// Every problem found in a configuration directory, in file order and, within a file, in
/// text order. Displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(&self.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: usize, path: &str) -> ConfigError {
        ConfigError {
            file: "/c/runner_manifest.json".into(),
            line,
            column: if line > 0 { 20 } else { 0 },
            path: path.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn display_with_and_without_position_and_path() {
        assert_eq!(
            err(12, "runners[2].restart.delay_ms").to_string(),
            "/c/runner_manifest.json:12:20: runners[2].restart.delay_ms: bad"
        );
        assert_eq!(err(3, "").to_string(), "/c/runner_manifest.json:3:20: bad");
        assert_eq!(err(0, "").to_string(), "/c/runner_manifest.json: bad");
    }

    #[test]
    fn errors_display_one_per_line() {
        let all = ConfigErrors(vec![err(1, "a"), err(2, "b")]);
        assert_eq!(
            all.to_string(),
            "/c/runner_manifest.json:1:20: a: bad\n/c/runner_manifest.json:2:20: b: bad"
        );
    }
}
