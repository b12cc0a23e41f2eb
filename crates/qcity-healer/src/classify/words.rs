//! The words of an output: lowercase runs of ASCII letters, the model's learned features
//! besides the cues (which ones count is the corpus's to say: `corpus::vocabulary`).

use std::collections::HashSet;

/// Lines longer than this are cut before the cues and the words read them (a minified
/// bundle or a base64 blob says nothing, and costs).
pub(crate) const LINE_MAX: usize = 600;

/// Words too common to tell failures apart.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "from", "with", "this", "that", "was", "are", "were", "has", "have",
    "had", "you", "your", "its", "into", "will", "can", "all", "any", "see", "more", "use", "work",
    "job", "tmp", "home", "root", "usr", "bin", "lib", "var",
];

/// The words of `lines`: lowercase runs of 3 to 24 ASCII letters (numbers, paths' digits and
/// hex ids say nothing twice).
pub fn words(lines: &[String]) -> HashSet<String> {
    let mut out = HashSet::new();
    for line in lines {
        for w in head(line).split(|c: char| !c.is_ascii_alphabetic()) {
            let w = w.to_ascii_lowercase();
            if (3..=24).contains(&w.len()) && !STOP_WORDS.contains(&w.as_str()) {
                out.insert(w);
            }
        }
    }
    out
}

/// What the classifier reads of `line`: its first [`LINE_MAX`] bytes, cut at a character
/// boundary.
pub(crate) fn head(line: &str) -> &str {
    &line[..line.floor_char_boundary(LINE_MAX)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let s = "é".repeat(400);
        assert!(head(&s).len() <= LINE_MAX);
        assert_eq!(head("short"), "short");
    }

    #[test]
    fn words_are_lowercase_letter_runs_without_the_common_ones() {
        let w = words(&["Error: ECONNREFUSED 10.0.0.5:5432 from the /tmp/x".to_string()]);
        let mut w: Vec<&str> = w.iter().map(String::as_str).collect();
        w.sort_unstable();
        assert_eq!(w, ["econnrefused", "error"]);
    }
}
