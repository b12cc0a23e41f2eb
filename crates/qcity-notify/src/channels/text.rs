//! What the channels share in rendering: how a severity shows in text, and cutting a text to a
//! service's limit.

use qcity_types::Severity;

/// The ellipsis that ends a text cut to a limit.
pub(super) const ELLIPSIS: char = '…';

/// The severity as text services show it, before the title: `🚨 CRITICAL`.
pub(super) fn badge(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🚨 CRITICAL",
        Severity::Error => "❌ ERROR",
        Severity::Info => "ℹ️ INFO",
    }
}

/// The severity as a mail subject's prefix: `[CRITICAL]`.
pub(super) fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "[CRITICAL]",
        Severity::Error => "[ERROR]",
        Severity::Info => "[INFO]",
    }
}

/// `text` cut to at most `max` characters (Unicode scalar values), ending in `…` when cut.
pub(super) fn cut_chars(text: &str, max: usize) -> String {
    cut_by(text, max, |_| 1)
}

/// `text` cut to at most `max` UTF-16 code units (Telegram's count), ending in `…` when cut.
pub(super) fn cut_utf16(text: &str, max: usize) -> String {
    cut_by(text, max, char::len_utf16)
}

/// `text` cut to at most `max` bytes of UTF-8 (ntfy's count), ending in `…` when cut.
pub(super) fn cut_bytes(text: &str, max: usize) -> String {
    cut_by(text, max, char::len_utf8)
}

/// The length of `text` in UTF-16 code units.
pub(super) fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` cut on a character boundary so its size, each character weighing `weight`, is at
/// most `max`, the ellipsis included.
fn cut_by(text: &str, max: usize, weight: impl Fn(char) -> usize) -> String {
    if text.chars().map(&weight).sum::<usize>() <= max {
        return text.to_owned();
    }
    let budget = max.saturating_sub(weight(ELLIPSIS));
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += weight(c);
        if used > budget {
            break;
        }
        end = at + c.len_utf8();
    }
    let mut cut = text[..end].trim_end().to_owned();
    if max >= weight(ELLIPSIS) {
        cut.push(ELLIPSIS);
    }
    cut
}

/// One line: control characters (a newline in a title) become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary_with_an_ellipsis() {
        assert_eq!(cut_chars("short", 10), "short");
        assert_eq!(cut_chars("exactly10!", 10), "exactly10!");
        assert_eq!(cut_chars("ééééééééééé", 5), "éééé…");
        assert_eq!(cut_bytes("ééé", 5), "é…");
        assert_eq!(cut_utf16("😀😀😀", 4), "😀…");
        assert_eq!(cut_chars("two words", 5), "two…");
    }
}
