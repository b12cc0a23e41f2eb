//! The embedded dashboard's static files (ui/dist, `make ui`): public, with their content types.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{As, Req, Server, serve};

/// The favicon is the app icon the tray and its bundle use, the one copy in icons/.
const FAVICON: &[u8] = include_bytes!("../../../../icons/32x32.png");

/// The `href` of index.html's `<link rel="icon">`.
fn icon_href(html: &str) -> Option<&str> {
    html.split("<link")
        .skip(1)
        .map(|tag| &tag[..tag.find('>').unwrap_or(tag.len())])
        .find(|tag| tag.contains(r#"rel="icon""#))?
        .split(r#"href=""#)
        .nth(1)?
        .split('"')
        .next()
}

/// GET `path` with no credentials: status, headers (lower-case names) and the body's bytes.
async fn get_bytes(s: &Server, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut conn = s.connect(None).await;
    let req = s.request_bytes(&Req::new("GET", path, As::Nobody));
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status.parse().unwrap(), headers, raw[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_links_the_favicon_and_both_are_served_without_credentials() {
    let s = serve().await;
    let index = s.send(Req::new("GET", "/", As::Nobody)).await;
    assert_eq!(index.status, 200, "{}", index.body);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        !index.body.contains("was not built into this binary"),
        "the dashboard is not embedded: run `make ui`, then test again"
    );
    let href = icon_href(&index.body)
        .unwrap_or_else(|| panic!("index.html links no icon: {}", index.body));
    assert!(
        href.starts_with("/assets/") && href.ends_with(".png"),
        "Vite fingerprints the icon into assets/: {href}"
    );

    let (status, headers, body) = get_bytes(&s, href).await;
    assert_eq!(status, 200, "GET {href}: {headers:?}");
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&headers, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(!body.is_empty());
    assert!(
        body == FAVICON,
        "{href} is not icons/32x32.png ({} bytes)",
        body.len()
    );
    s.engine.shutdown("test").await;
}
