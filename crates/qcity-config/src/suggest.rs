//! "Did you mean …?" for unknown fields and enum variants.
//!
//! serde reports these as ``unknown field `delay`, expected one of `policy`, `delay_ms`, …``
//! (or ``expected `a` or `b` ``, ``expected `a` ``); the candidates are the backquoted names
//! after "expected". The message is kept and the closest candidate is offered first.

/// How close a candidate must be (Jaro-Winkler similarity) to be suggested.
const MIN_SIMILARITY: f64 = 0.8;

/// What kind of name serde did not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    Field,
    Variant,
}

/// Parses serde's unknown-field or unknown-variant message: the kind, the unknown name and the
/// expected names.
pub(crate) fn parse_unknown(message: &str) -> Option<(Unknown, String, Vec<String>)> {
    let (kind, rest) = if let Some(rest) = message.strip_prefix("unknown field ") {
        (Unknown::Field, rest)
    } else {
        (Unknown::Variant, message.strip_prefix("unknown variant ")?)
    };
    let mut names = backquoted(rest);
    if names.is_empty() {
        return None;
    }
    let name = names.remove(0);
    Some((kind, name, names))
}

/// All `…` spans in `s`, in order.
fn backquoted(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The candidate most similar to `name`, if similar enough.
pub(crate) fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= MIN_SIMILARITY)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.as_str())
}

/// serde's message with a did-you-mean inserted after the unknown name, e.g.
/// ``unknown field `delay`, did you mean `delay_ms`? Expected one of `policy`, …``.
/// Other messages are returned unchanged.
pub(crate) fn with_suggestion(message: &str) -> String {
    let Some((_, name, candidates)) = parse_unknown(message) else {
        return message.to_owned();
    };
    let Some(best) = closest(&name, &candidates) else {
        return message.to_owned();
    };
    let head = format!("`{name}`, ");
    match message.split_once(&head) {
        Some((start, rest)) => {
            let rest = rest
                .strip_prefix('e')
                .map_or(rest.to_owned(), |r| format!("E{r}"));
            format!("{start}`{name}`, did you mean `{best}`? {rest}")
        }
        None => format!("{message}; did you mean `{best}`?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_variants() {
        let (kind, name, cands) =
            parse_unknown("unknown field `delay`, expected one of `policy`, `delay_ms`").unwrap();
        assert_eq!(kind, Unknown::Field);
        assert_eq!(name, "delay");
        assert_eq!(cands, ["policy", "delay_ms"]);
        let (kind, _, cands) = parse_unknown("unknown variant `x`, expected `a` or `b`").unwrap();
        assert_eq!(kind, Unknown::Variant);
        assert_eq!(cands, ["a", "b"]);
        let (_, _, cands) = parse_unknown("unknown field `x`, there are no fields").unwrap();
        assert!(cands.is_empty());
        assert!(parse_unknown("missing field `name`").is_none());
    }

    #[test]
    fn suggests_the_closest_name_only_when_close() {
        let msg = "unknown field `delay`, expected one of `policy`, `delay_ms`, `factor`";
        assert_eq!(
            with_suggestion(msg),
            "unknown field `delay`, did you mean `delay_ms`? \
             Expected one of `policy`, `delay_ms`, `factor`"
        );
        let msg = "unknown variant `onfailure`, expected one of `always`, `on-failure`, `never`";
        assert!(with_suggestion(msg).contains("did you mean `on-failure`?"));
        let msg = "unknown field `zzz`, expected one of `policy`, `delay_ms`";
        assert_eq!(with_suggestion(msg), msg);
        assert_eq!(
            with_suggestion("invalid type: string \"x\", expected u64"),
            "invalid type: string \"x\", expected u64"
        );
    }
}
