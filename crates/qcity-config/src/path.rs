//! JSON paths such as `runners[2].restart.delay_ms`, for error messages and the span locator.

use std::fmt;

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the root of a file to one of its values; the empty path is the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct JsonPath(pub(crate) Vec<Seg>);

impl JsonPath {
    pub(crate) fn root() -> Self {
        Self::default()
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        self.with(Seg::Key(key.to_owned()))
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        self.with(Seg::Index(index))
    }

    fn with(&self, seg: Seg) -> Self {
        let mut segs = self.0.clone();
        segs.push(seg);
        Self(segs)
    }

    /// `self` followed by the path serde_path_to_error reports relative to `self`.
    pub(crate) fn join(&self, rel: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut out = self.clone();
        for seg in rel.iter() {
            match seg {
                Segment::Seq { index } => out.0.push(Seg::Index(*index)),
                Segment::Map { key } => out.0.push(Seg::Key(key.clone())),
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        out
    }

    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

/// Keys made of letters, digits, `_`, `-` and `$` print bare (`a.b`); others print quoted
/// (`env["A=B"]`) so the path stays unambiguous.
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) if is_plain(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Key(k) => {
                    let quoted = serde_json::to_string(k).map_err(|_| fmt::Error)?;
                    write!(f, "[{quoted}]")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_indices_and_quoted_keys() {
        let p = JsonPath::root()
            .key("runners")
            .index(2)
            .key("restart")
            .key("delay_ms");
        assert_eq!(p.to_string(), "runners[2].restart.delay_ms");
        let p = JsonPath::root()
            .key("runners")
            .index(0)
            .key("env")
            .key("A=B");
        assert_eq!(p.to_string(), r#"runners[0].env["A=B"]"#);
        assert_eq!(JsonPath::root().key("").to_string(), r#"[""]"#);
        assert_eq!(JsonPath::root().key("$schema").to_string(), "$schema");
        assert_eq!(JsonPath::root().to_string(), "");
    }
}
