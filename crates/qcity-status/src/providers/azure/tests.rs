use qcity_types::PlatformState;

use super::parse;

const T19: i64 = 1_796_497_200_000;

/// Azure's feed on a quiet day: a channel and no items.
const EMPTY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss xmlns:a10="http://www.w3.org/2005/Atom" version="2.0">
  <channel>
    <title>Azure Status</title>
    <link>https://azure.status.microsoft/en-us/status/</link>
    <description>Azure Status</description>
    <language>en-us</language>
    <lastBuildDate>Sat, 05 Dec 2026 19:30:11 Z</lastBuildDate>
  </channel>
</rss>
"#;

/// Two current issues, one title in CDATA, one with entities, one with none at all.
const ITEMS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss xmlns:a10="http://www.w3.org/2005/Atom" version="2.0">
  <channel>
    <title>Azure Status</title>
    <link>https://azure.status.microsoft/en-us/status/</link>
    <description>Azure Status</description>
    <lastBuildDate>Sat, 05 Dec 2026 19:30:11 GMT</lastBuildDate>
    <item>
      <guid isPermaLink="false">https://azure.status.microsoft/en-us/status/#TRK1-2A3</guid>
      <link>https://azure.status.microsoft/en-us/status/history/?trackingId=TRK1-2A3</link>
      <category>Virtual Machines</category>
      <title><![CDATA[Virtual Machines - East US <b>degraded</b>]]></title>
      <description><![CDATA[<p>Starting at 19:00 UTC on 05 Dec 2026, a subset of customers…</p>]]></description>
      <pubDate>Sat, 05 Dec 2026 19:00:00 Z</pubDate>
      <a10:updated>2026-12-05T19:10:00Z</a10:updated>
    </item>
    <item>
      <link>https://azure.status.microsoft/en-us/status/?a=1&amp;b=2</link>
      <title>Storage &amp; Networking &lt;West Europe&gt; &quot;intermittent&quot; &#39;errors&#39; &#8212; &#x2014;&nbsp;&unknown;</title>
      <pubDate>Sat, 05 Dec 2026 18:00:00 +0000</pubDate>
    </item>
  </channel>
</rss>
"#;

#[test]
fn an_empty_channel_is_operational() {
    let p = parse(EMPTY.as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::Operational);
    assert_eq!(p.summary, "No current issues");
    assert!(p.incidents.is_empty());
    assert_eq!(p.updated_ms, Some(1_796_499_011_000));
}

#[test]
fn items_are_issues() {
    let p = parse(ITEMS.as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::Degraded);
    assert_eq!(p.summary, "2 current issues");
    assert_eq!(p.updated_ms, Some(1_796_499_011_000));
    assert_eq!(p.incidents.len(), 2);

    let first = &p.incidents[0];
    assert_eq!(
        first.title, "Virtual Machines - East US <b>degraded</b>",
        "CDATA is taken as is"
    );
    assert_eq!(first.impact, "minor");
    assert_eq!(first.started_ms, Some(T19));
    assert_eq!(
        first.url.as_deref(),
        Some("https://azure.status.microsoft/en-us/status/history/?trackingId=TRK1-2A3")
    );

    let second = &p.incidents[1];
    assert_eq!(
        second.title,
        "Storage & Networking <West Europe> \"intermittent\" 'errors' — — &unknown;"
    );
    assert_eq!(second.started_ms, Some(1_796_493_600_000));
    assert_eq!(
        second.url.as_deref(),
        Some("https://azure.status.microsoft/en-us/status/?a=1&b=2")
    );
}

#[test]
fn an_item_without_fields_is_still_an_issue() {
    let body = r#"<rss version="2.0"><channel><title>Azure Status</title><item/><item><pubDate>yesterday</pubDate></item></channel></rss>"#;
    let p = parse(body.as_bytes()).unwrap();
    assert_eq!(p.state, PlatformState::Degraded);
    assert_eq!(p.incidents.len(), 2);
    assert!(
        p.incidents
            .iter()
            .all(|i| i.title == "Untitled incident" && i.started_ms.is_none() && i.url.is_none())
    );
}

#[test]
fn a_bom_and_a_dangling_ampersand_are_read() {
    let body = "\u{feff}<rss><channel><item><title>R&D portal down</title></item></channel></rss>";
    let p = parse(body.as_bytes()).unwrap();
    assert_eq!(p.incidents[0].title, "R&D portal down");
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let cut = &ITEMS[..ITEMS.find("</channel>").unwrap()];
    let cases: [(&[u8], &str); 8] = [
        (b"", "empty body"),
        (
            cut.as_bytes(),
            "not XML: cut short: `<channel>` is not closed",
        ),
        (b"<rss><channel></item></channel></rss>", "not XML: "),
        (
            b"<rss><channel><title>x</titel></channel></rss>",
            "not XML: ",
        ),
        (
            b"<feed xmlns=\"http://www.w3.org/2005/Atom\"></feed>",
            "not an RSS feed: the root element is `<feed>`",
        ),
        (
            b"<rss version=\"2.0\"></rss>",
            "not an RSS feed: no `<rss>` with a `<channel>`",
        ),
        (b"{\"status\":\"ok\"}", "not an RSS feed: "),
        (
            b"<rss><channel><title>&#0;</title></channel></rss>",
            "not XML: `&#0;`",
        ),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
}
