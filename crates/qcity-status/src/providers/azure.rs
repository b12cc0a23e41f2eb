//! Azure's status RSS feed. It lists only current issues: an empty channel means healthy, and
//! each `<item>` is one issue (title, link, RFC 2822 `pubDate`). The feed rates none of them,
//! so any item makes the page degraded.

use qcity_types::{PlatformIncident, PlatformState};
use quick_xml::events::{BytesRef, Event};
use quick_xml::reader::Reader;

use super::parsed::{self, ParseError, Parsed};
use super::utf16;

/// An `<item>`'s fields, read as they come.
#[derive(Default)]
struct Item {
    title: String,
    link: String,
    pub_date: String,
}

pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    // Feeds are UTF-8 in practice; the decoder also takes a BOM'd UTF-16 one.
    let text = utf16::decode(body)?;
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let mut reader = Reader::from_str(&text);
    // A bare `&` is a common slip in hand-made feeds; it is text, not a reason to go blind.
    reader.config_mut().allow_dangling_amp = true;

    let mut open: Vec<String> = Vec::new();
    let mut saw_channel = false;
    let mut item: Option<Item> = None;
    let mut issues: Vec<PlatformIncident> = Vec::new();
    let mut last_build = String::new();
    loop {
        let event = reader.read_event().map_err(|e| {
            ParseError::NotXml(format!("{e} (at byte {})", reader.error_position()))
        })?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                check_root(&open, &name)?;
                match name.as_str() {
                    "channel" if open.len() == 1 => saw_channel = true,
                    "item" => item = Some(Item::default()),
                    _ => {}
                }
                open.push(name);
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                check_root(&open, &name)?;
                saw_channel |= name == "channel" && open.len() == 1;
                if name == "item" {
                    issues.push(incident(Item::default()));
                }
            }
            Event::End(_) => {
                if open.pop().as_deref() == Some("item")
                    && let Some(done) = item.take()
                {
                    issues.push(incident(done));
                }
            }
            Event::Text(t) => push_text(&open, &mut item, &mut last_build, &t.xml10_content()),
            Event::CData(c) => push_text(&open, &mut item, &mut last_build, &c.into_inner()),
            Event::GeneralRef(r) => push_text(&open, &mut item, &mut last_build, &reference(&r)?),
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(ParseError::NotXml(format!(
            "cut short: `<{}>` is not closed",
            parsed::clip(unclosed)
        )));
    }
    if !saw_channel {
        return Err(ParseError::NotRss(
            "no `<rss>` with a `<channel>`".to_owned(),
        ));
    }
    let (state, summary) = match issues.len() {
        0 => (PlatformState::Operational, "No current issues".to_owned()),
        1 => (PlatformState::Degraded, "1 current issue".to_owned()),
        n => (PlatformState::Degraded, format!("{n} current issues")),
    };
    Ok(Parsed::new(
        state,
        &summary,
        issues,
        rfc2822_ms(&last_build),
    ))
}

/// The document must be `<rss>`: an Atom `<feed>` or an HTML error page is another format.
fn check_root(open: &[String], name: &str) -> Result<(), ParseError> {
    if open.is_empty() && name != "rss" {
        return Err(ParseError::NotRss(format!(
            "the root element is `<{}>`, expected `<rss>`",
            parsed::clip(name)
        )));
    }
    Ok(())
}

/// Text goes to the field of the item it is in, or to the channel's `lastBuildDate`.
fn push_text(open: &[String], item: &mut Option<Item>, last_build: &mut String, text: &str) {
    let [.., parent, field] = open else {
        return;
    };
    match (item, parent.as_str(), field.as_str()) {
        (Some(item), "item", "title") => item.title.push_str(text),
        (Some(item), "item", "link") => item.link.push_str(text),
        (Some(item), "item", "pubDate") => item.pub_date.push_str(text),
        (_, "channel", "lastBuildDate") => last_build.push_str(text),
        _ => {}
    }
}

/// `&amp;`, `&#39;`, `&#x2014;`… as text; an entity XML does not define stays as written.
fn reference(r: &BytesRef<'_>) -> Result<String, ParseError> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| ParseError::NotXml(format!("`&{};`: {e}", parsed::clip(r))))?
    {
        return Ok(c.to_string());
    }
    Ok(match quick_xml::escape::resolve_xml_entity(r) {
        Some(s) => s.to_owned(),
        // HTML's non-breaking space is the one such entity feeds use.
        None if &**r == "nbsp" => " ".to_owned(),
        None => format!("&{};", &**r),
    })
}

fn incident(item: Item) -> PlatformIncident {
    parsed::incident(
        &item.title,
        "minor",
        rfc2822_ms(&item.pub_date),
        Some(&item.link),
    )
}

/// An RFC 2822 date ("Tue, 05 Dec 2026 19:35:59 GMT") in ms since the epoch.
fn rfc2822_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests;
