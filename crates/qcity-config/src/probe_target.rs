//! Probe targets as the config accepts them; the engine connects to what these return.

/// `http://host[:port][/path]` → (host, port, path). Only plain HTTP: probes target local
/// services, and this build carries no TLS.
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("`{url}`: only http:// URLs are supported (https probes are not built yet)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("`{url}`: `{p}` is not a port number"))?;
            (h, port)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("`{url}`: no host"));
    }
    Ok((
        host.trim_matches(['[', ']']).to_string(),
        port,
        path.to_string(),
    ))
}

/// `host:port` → (host, port).
pub fn parse_host_port(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("`{address}`: expected host:port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{address}`: `{port}` is not a port number"))?;
    if host.is_empty() {
        return Err(format!("`{address}`: no host"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_addresses() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080/health").unwrap(),
            ("127.0.0.1".into(), 8080, "/health".into())
        );
        assert_eq!(
            parse_http_url("http://localhost").unwrap(),
            ("localhost".into(), 80, "/".into())
        );
        assert!(
            parse_http_url("https://x/")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(parse_http_url("http://x:port/").is_err());
        assert_eq!(parse_host_port("[::1]:22").unwrap(), ("::1".into(), 22));
        assert!(parse_host_port("nohost").is_err());
    }
}
