//! Probe targets as the config accepts them; the engine connects to what these return.

use std::path::Path;

/// An http probe's URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: the answer comes over TLS, its certificate checked against the trusted roots.
    pub tls: bool,
    pub host: String,
    /// The URL's port, or the scheme's (80, 443).
    pub port: u16,
    pub path: String,
}

/// `localhost` or a loopback address (127.0.0.0/8, ::1, with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `http://host[:port][/path]` or `https://host[:port][/path]`.
pub fn parse_http_url(url: &str) -> Result<HttpUrl, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(format!(
            "`{url}`: only http:// and https:// URLs are supported"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // `[v6]` or `[v6]:port`, else `host` or `host:port`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, after)) => match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("`{url}`: `{after}` after the IPv6 address")),
            },
            None => return Err(format!("`{url}`: no `]` after the IPv6 address")),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{url}`: `{p}` is not a port number"))?,
        None if tls => 443,
        None => 80,
    };
    if host.is_empty() {
        return Err(format!("`{url}`: no host"));
    }
    Ok(HttpUrl {
        tls,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// The certificates of a PEM CA bundle (an http probe's `ca_file`), as DER. The error names
/// the file: missing, unreadable, not PEM, or without a `CERTIFICATE` block.
pub fn read_ca_file(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{shown}` is not a PEM file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{shown}` holds no CERTIFICATE block"));
    }
    Ok(certs)
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
        let url = |tls, host: &str, port, path: &str| HttpUrl {
            tls,
            host: host.into(),
            port,
            path: path.into(),
        };
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080/health").unwrap(),
            url(false, "127.0.0.1", 8080, "/health")
        );
        assert_eq!(
            parse_http_url("http://localhost").unwrap(),
            url(false, "localhost", 80, "/")
        );
        assert_eq!(
            parse_http_url("https://[::1]/ready").unwrap(),
            url(true, "::1", 443, "/ready")
        );
        assert_eq!(
            parse_http_url("https://svc.local:8443").unwrap(),
            url(true, "svc.local", 8443, "/")
        );
        assert!(
            parse_http_url("ftp://x/")
                .unwrap_err()
                .contains("only http:// and https://")
        );
        assert_eq!(
            parse_http_url("http://[::1]:9000/x").unwrap(),
            url(false, "::1", 9000, "/x")
        );
        assert!(parse_http_url("http://x:port/").is_err());
        assert!(parse_http_url("http://[::1/").is_err());
        assert!(parse_http_url("https:///path").is_err());
        assert_eq!(parse_host_port("[::1]:22").unwrap(), ("::1".into(), 22));
        assert!(parse_host_port("nohost").is_err());
    }
}
