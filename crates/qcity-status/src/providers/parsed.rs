//! What every parser returns, [`Parsed`], and why a body was refused, [`ParseError`]. Kept out
//! of `mod.rs` so the parsers can name them without an import circle back to their parent.

use qcity_types::{PlatformIncident, PlatformState};

/// A title longer than this is cut: a page can write a paragraph where a line is expected, and
/// the tray's menu and the dashboard's list show one line.
pub const MAX_TITLE_CHARS: usize = 200;
/// More incidents than this are dropped (the oldest): a list that long says "outage" already.
pub const MAX_INCIDENTS: usize = 20;
/// A longer link is dropped rather than cut: half a URL leads nowhere.
const MAX_URL_CHARS: usize = 2048;

/// What one fetched body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub state: PlatformState,
    /// The page's own words ("All Systems Operational", "Partial System Outage"), or ours.
    pub summary: String,
    /// Incidents and maintenances in progress, newest first.
    pub incidents: Vec<PlatformIncident>,
    /// When the page says it was updated (ms since the epoch), if it says.
    pub updated_ms: Option<i64>,
}

impl Parsed {
    /// The one way parsers build a result: the caps and the order are applied here, once.
    pub fn new(
        state: PlatformState,
        summary: &str,
        mut incidents: Vec<PlatformIncident>,
        updated_ms: Option<i64>,
    ) -> Parsed {
        // Newest first; an incident without a start goes last. The sort is stable, so the
        // page's own order is kept among equals.
        incidents.sort_by_key(|i| std::cmp::Reverse(i.started_ms.unwrap_or(i64::MIN)));
        incidents.truncate(MAX_INCIDENTS);
        Parsed {
            state,
            summary: clip(summary),
            incidents,
            updated_ms,
        }
    }
}

/// An incident with its title and link made fit to show.
pub fn incident(
    title: &str,
    impact: &str,
    started_ms: Option<i64>,
    url: Option<&str>,
) -> PlatformIncident {
    let title = clip(title);
    PlatformIncident {
        title: if title.is_empty() {
            "Untitled incident".to_owned()
        } else {
            title
        },
        impact: impact.to_owned(),
        started_ms,
        url: url
            .map(str::trim)
            .filter(|u| !u.is_empty() && u.chars().count() <= MAX_URL_CHARS)
            .map(str::to_owned),
    }
}

/// One line of at most [`MAX_TITLE_CHARS`] characters: runs of white space (newlines from a
/// feed's markup included) become one space, and a longer text ends with "…".
pub fn clip(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_TITLE_CHARS {
        return line;
    }
    let mut out: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    out.push('…');
    out
}

/// Why a body could not be read. The message says what is wrong in the body, for the
/// dashboard's "as of" line and the logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("empty body")]
    Empty,
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("not UTF-16 JSON: {0}")]
    NotUtf16(String),
    #[error("not UTF-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    #[error("not XML: {0}")]
    NotXml(String),
    #[error("not an RSS feed: {0}")]
    NotRss(String),
    /// A field the format cannot do without is absent (or null).
    #[error("no `{0}`")]
    Missing(String),
    /// A field is there but of another kind than the format's.
    #[error("`{path}` is {found}, expected {expected}")]
    Shape {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A field holds a value the format does not define.
    #[error("`{path}` is `{value}`, expected one of {known}")]
    Value {
        path: String,
        value: String,
        known: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_titles_and_joins_lines() {
        assert_eq!(
            clip("  Degraded\n  performance\tof Actions "),
            "Degraded performance of Actions"
        );
        assert_eq!(clip(""), "");
    }

    #[test]
    fn clip_cuts_long_titles_on_a_char_boundary() {
        let long = "é".repeat(500);
        let out = clip(&long);
        assert_eq!(out.chars().count(), MAX_TITLE_CHARS);
        assert!(out.ends_with('…'));
        let exact = "a".repeat(MAX_TITLE_CHARS);
        assert_eq!(clip(&exact), exact);
    }

    #[test]
    fn new_orders_newest_first_and_caps() {
        let incidents: Vec<_> = (0..30)
            .map(|i| incident(&format!("i{i}"), "minor", (i % 3 != 0).then_some(i), None))
            .collect();
        let p = Parsed::new(PlatformState::Degraded, "x", incidents, None);
        assert_eq!(p.incidents.len(), MAX_INCIDENTS);
        assert_eq!(p.incidents[0].title, "i29");
        let starts: Vec<_> = p.incidents.iter().map(|i| i.started_ms).collect();
        assert!(
            starts
                .windows(2)
                .all(|w| w[0].unwrap_or(i64::MIN) >= w[1].unwrap_or(i64::MIN))
        );
    }

    #[test]
    fn incident_drops_empty_links_and_names_untitled() {
        let i = incident(" ", "none", None, Some("  "));
        assert_eq!(i.title, "Untitled incident");
        assert_eq!(i.url, None);
    }
}
