//! Span locator: where in the source text a JSON path's value (or key) starts.
//!
//! `serde_json::Value` keeps no positions, so this walks the text with a tiny tokenizer. The
//! text has already been parsed by serde_json, so it is valid JSON; on anything unexpected the
//! walk stops and the deepest position found so far is returned.

use crate::path::Seg;

/// What to point at for the last segment of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The value (`"x"` in `"delay_ms": "x"`).
    Value,
    /// The key, for a problem with the key itself (an unknown field, a bad env name).
    Key,
}

/// 1-based line and column (in characters) of `path` in `src`. A path that is not in the text
/// (a missing field, a default) resolves to its deepest ancestor that is.
pub(crate) fn locate(src: &str, path: &[Seg], target: Target) -> (usize, usize) {
    let mut s = Scanner {
        b: src.as_bytes(),
        i: 0,
    };
    s.ws();
    let mut best = s.i;
    for (n, seg) in path.iter().enumerate() {
        let found = match seg {
            Seg::Key(k) => s.find_key(k),
            Seg::Index(i) => s.find_index(*i).map(|v| (v, v)),
        };
        let Some((key_at, value_at)) = found else {
            break;
        };
        if n + 1 == path.len() && target == Target::Key {
            best = key_at;
            break;
        }
        best = value_at;
        s.i = value_at;
    }
    line_col(src, best)
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(crate) fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = &src.as_bytes()[..at.min(src.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count();
    (line, column)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Consumes `c` (after whitespace) if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Skips a string starting at `"`; returns its text including the quotes.
    fn string(&mut self) -> Option<&str> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        std::str::from_utf8(&self.b[start..self.i]).ok()
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                if self.eat(close) {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.ws();
                        self.string()?;
                        self.eat(b':').then_some(())?;
                    }
                    self.skip_value()?;
                    if self.eat(close) {
                        return Some(());
                    }
                    self.eat(b',').then_some(())?;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    /// At an object: the offsets of `key` and of its value. Like serde_json, the last of
    /// duplicate keys wins.
    fn find_key(&mut self, key: &str) -> Option<(usize, usize)> {
        self.ws();
        if !self.eat(b'{') {
            return None;
        }
        let mut found = None;
        if self.eat(b'}') {
            return None;
        }
        loop {
            self.ws();
            let key_at = self.i;
            let raw = self.string()?;
            let matches = serde_json::from_str::<String>(raw).is_ok_and(|k| k == key);
            self.eat(b':').then_some(())?;
            self.ws();
            if matches {
                found = Some((key_at, self.i));
            }
            self.skip_value()?;
            if self.eat(b'}') {
                return found;
            }
            self.eat(b',').then_some(())?;
        }
    }

    /// At an array: the offset of element `index`.
    fn find_index(&mut self, index: usize) -> Option<usize> {
        self.ws();
        if !self.eat(b'[') || self.eat(b']') {
            return None;
        }
        for _ in 0..index {
            self.skip_value()?;
            self.eat(b',').then_some(())?;
        }
        self.ws();
        Some(self.i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::JsonPath;

    const SRC: &str = r#"{
  "runners": [
    { "name": "a", "command": ["x", "y\"]{,"] },
    {"name":"b","restart":{"delay_ms":"x"},
     "env": {"A=B": "1"}}
  ],
  "ünï": {"k": [1, 2.5e3, true, null, {}, []], "z": "é"}
}"#;

    fn at(path: JsonPath, target: Target) -> (usize, usize) {
        locate(SRC, &path.0, target)
    }

    #[test]
    fn finds_values_through_objects_and_arrays() {
        let r = JsonPath::root().key("runners");
        assert_eq!(at(r.clone(), Target::Value), (2, 14));
        assert_eq!(at(r.index(0).key("name"), Target::Value), (3, 15));
        assert_eq!(
            at(r.index(0).key("command").index(1), Target::Value),
            (3, 37)
        );
        assert_eq!(at(r.index(1), Target::Value), (4, 5));
        let delay = r.index(1).key("restart").key("delay_ms");
        assert_eq!(at(delay, Target::Value), (4, 39));
    }

    #[test]
    fn points_at_the_key_when_asked() {
        let p = JsonPath::root()
            .key("runners")
            .index(1)
            .key("env")
            .key("A=B");
        assert_eq!(at(p.clone(), Target::Key), (5, 14));
        assert_eq!(at(p, Target::Value), (5, 21));
    }

    #[test]
    fn counts_columns_in_characters_after_skipping_values() {
        let k = JsonPath::root().key("ünï").key("k");
        assert_eq!(at(k.index(4), Target::Value), (7, 39));
        assert_eq!(
            at(JsonPath::root().key("ünï").key("z"), Target::Value),
            (7, 53)
        );
    }

    #[test]
    fn missing_paths_resolve_to_the_deepest_ancestor() {
        let r = JsonPath::root().key("runners");
        assert_eq!(
            at(r.index(0).key("restart").key("factor"), Target::Value),
            (3, 5)
        );
        assert_eq!(at(r.index(9), Target::Value), (2, 14));
        assert_eq!(at(JsonPath::root().key("nope"), Target::Key), (1, 1));
        assert_eq!(locate("  \n [1]", &[Seg::Index(3)], Target::Value), (2, 2));
    }

    #[test]
    fn last_duplicate_key_wins() {
        let src = r#"{"a": 1, "a": {"b": 2}}"#;
        let p = JsonPath::root().key("a").key("b");
        assert_eq!(locate(src, &p.0, Target::Value), (1, 21));
    }

    #[test]
    fn escaped_keys_are_compared_decoded() {
        let src = r#"{"a\u0062": 1}"#;
        assert_eq!(
            locate(src, &JsonPath::root().key("ab").0, Target::Key),
            (1, 2)
        );
    }
}
