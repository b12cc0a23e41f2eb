//! `https://` sources against a real TLS server on loopback whose certificate comes from an
//! authority made here: trusted through a CA file, refused with the public roots.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use qcity_installer::fetch::{Trust, download, fetch_text, part_path};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};

struct Server {
    base: String,
    ca_pem: String,
}

/// Serves `body` at any path over TLS, as `127.0.0.1` signed by a fresh authority.
fn serve(body: &'static [u8]) -> Server {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            let tls = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut stream = rustls::StreamOwned::new(tls, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            // A client that refuses the certificate ends the handshake here: an error.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            if req.is_empty() {
                continue;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    Server {
        base,
        ca_pem: ca.pem(),
    }
}

#[test]
fn https_with_the_configured_authority_downloads_and_reads_the_manifest() {
    static BODY: &[u8] = b"{\"app\": \"qi\"} and then some release bytes";
    let server = serve(BODY);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("mirror-ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let trust = Trust::from_pem_file(&ca).unwrap();

    let dest = dir.path().join("qi.tar.gz");
    let mut seen = Vec::new();
    download(
        &format!("{}/qi.tar.gz", server.base),
        dir.path(),
        &dest,
        BODY.len() as u64,
        &trust,
        &mut |done, _| seen.push(done),
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), BODY);
    assert_eq!(seen.last(), Some(&(BODY.len() as u64)));

    let text = fetch_text(
        &format!("{}/manifest.json", server.base),
        dir.path(),
        &trust,
    )
    .unwrap();
    assert_eq!(text.as_bytes(), BODY);
}

#[test]
fn https_signed_by_an_unknown_authority_is_refused_and_nothing_is_kept() {
    static BODY: &[u8] = b"release bytes from a server nobody vouches for";
    let server = serve(BODY);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("qi.tar.gz");
    // The public web roots: this loopback authority is not among them.
    let err = download(
        &format!("{}/qi.tar.gz", server.base),
        dir.path(),
        &dest,
        BODY.len() as u64,
        &Trust::default(),
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&server.base), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!dest.exists());
    assert_eq!(
        std::fs::metadata(part_path(&dest)).map_or(0, |m| m.len()),
        0
    );
}

#[test]
fn a_ca_file_without_certificates_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let err = Trust::from_pem_file(&ca).err().unwrap().to_string();
    assert!(
        err.contains("ca.pem") && err.contains("CERTIFICATE"),
        "{err}"
    );
    let missing = Trust::from_pem_file(&dir.path().join("nope.pem"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("nope.pem"), "{missing}");
}
