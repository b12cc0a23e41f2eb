//! Downloads from a real HTTP server on loopback, resumed after a cut connection, then
//! verified: size, SHA-256 and a minisign signature made here with a test key.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use qcity_config::release::ReleaseFile;
use qcity_installer::fetch::{FetchError, Trust, download, part_path};
use qcity_installer::verify::sign::KeyPair;
use qcity_installer::verify::{PublicKey, VerifyError, verify_file};
use sha2::Digest;

/// Serves `body` at any path; honours `Range: bytes=N-`. The first response is cut after
/// `cut_first` bytes when given. Records the Range headers it saw.
fn server(body: Vec<u8>, cut_first: Option<usize>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/qi.tar.gz", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        let mut cut = cut_first;
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&req).to_string();
            let range = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Range: bytes=")
                        .or_else(|| l.strip_prefix("range: bytes="))
                })
                .map(|r| r.trim_end_matches('-').to_string());
            seen.lock().unwrap().push(range.clone());
            let from: usize = range.as_deref().map_or(0, |r| r.parse().unwrap());
            let part = &body[from..];
            let head = if from > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                    part.len(),
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    part.len()
                )
            };
            conn.write_all(head.as_bytes()).unwrap();
            let send = cut.take().map_or(part.len(), |c| c.min(part.len()));
            let _ = conn.write_all(&part[..send]);
            // Dropping the connection mid-body is the interruption.
        }
    });
    (url, ranges)
}

fn release_file(body: &[u8], url: &str, keys: &KeyPair) -> ReleaseFile {
    ReleaseFile {
        url: url.into(),
        size: body.len() as u64,
        sha256: sha2::Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        signature: keys.sign(body, "qi 1.4.0 linux x86_64"),
    }
}

fn keys(seed: u8) -> KeyPair {
    KeyPair::from_seed([seed; 32], [seed, 1, 2, 3, 4, 5, 6, 7])
}

fn body() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn an_interrupted_download_resumes_and_verifies() {
    let body = body();
    let (url, ranges) = server(body.clone(), Some(100_000));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("qi.tar.gz");
    let k = keys(7);
    let file = release_file(&body, &url, &k);
    let mut seen = Vec::new();
    let err = download(
        &url,
        dir.path(),
        &dest,
        file.size,
        &Trust::default(),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Interrupted { got: 100_000, .. }),
        "{err}"
    );
    assert_eq!(std::fs::metadata(part_path(&dest)).unwrap().len(), 100_000);
    assert!(!dest.exists(), "nothing is in place before it is complete");

    download(
        &url,
        dir.path(),
        &dest,
        file.size,
        &Trust::default(),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap();
    assert_eq!(
        ranges.lock().unwrap().clone(),
        [None, Some("100000".to_string())]
    );
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(seen.last(), Some(&(body.len() as u64, body.len() as u64)));
    let pk = PublicKey::parse(&k.public_key()).unwrap();
    verify_file(&dest, &file, &pk).unwrap();
}

#[test]
fn a_tampered_file_or_a_foreign_signature_is_refused() {
    let body = body();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("qi.tar.gz");
    let k = keys(7);
    let pk = PublicKey::parse(&k.public_key()).unwrap();
    let file = release_file(&body, "qi.tar.gz", &k);

    // One byte changed: the hash says so before the signature is even looked at.
    let mut tampered = body.clone();
    tampered[1234] ^= 0xff;
    std::fs::write(&dest, &tampered).unwrap();
    let err = verify_file(&dest, &file, &pk).unwrap_err();
    assert!(matches!(err, VerifyError::Sha256 { .. }), "{err}");

    // The right bytes with a manifest whose hash matches, signed by another key.
    std::fs::write(&dest, &body).unwrap();
    let mut foreign = file.clone();
    foreign.signature = keys(9).sign(&body, "qi 1.4.0 linux x86_64");
    let err = verify_file(&dest, &foreign, &pk).unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");

    // The pinned key id, but a signature over other bytes.
    let mut wrong = file.clone();
    wrong.signature = k.sign(b"something else", "qi 1.4.0 linux x86_64");
    let err = verify_file(&dest, &wrong, &pk).unwrap_err();
    assert!(err.to_string().contains("does not match the file"), "{err}");

    // An altered trusted comment (minisign-verify gives one error for both Ed25519 checks,
    // so the message names both).
    let mut altered = file.clone();
    altered.signature = file.signature.replace("qi 1.4.0", "qi 9.9.9");
    let err = verify_file(&dest, &altered, &pk).unwrap_err();
    assert!(
        err.to_string().contains("trusted comment was altered"),
        "{err}"
    );

    // A signature file that is not one: its global signature line cut off, or a
    // signature line that is not base64.
    let lines: Vec<&str> = file.signature.lines().collect();
    for broken in [
        lines[..3].join("\n"),
        [lines[0], &format!("!{}", lines[1]), lines[2], lines[3]].join("\n"),
    ] {
        let mut malformed = file.clone();
        malformed.signature = broken;
        let err = verify_file(&dest, &malformed, &pk).unwrap_err();
        assert!(
            matches!(err, VerifyError::Signature(_))
                && err.to_string().contains("not a minisign signature"),
            "{err}"
        );
    }

    // A size that differs.
    let mut short = file.clone();
    short.size -= 1;
    assert!(matches!(
        verify_file(&dest, &short, &pk).unwrap_err(),
        VerifyError::Size { .. }
    ));

    verify_file(&dest, &file, &pk).unwrap();
}

#[test]
fn a_server_that_sends_too_much_is_cut_off_and_other_schemes_are_refused() {
    let body = body();
    let (url, _) = server(body.clone(), None);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("qi.tar.gz");
    let err = download(
        &url,
        dir.path(),
        &dest,
        1000,
        &Trust::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLong { expected: 1000, .. }),
        "{err}"
    );
    assert!(
        !part_path(&dest).exists() && !dest.exists(),
        "nothing left behind"
    );
    let err = download(
        "ftp://example.org/qi.tgz",
        dir.path(),
        &dest,
        10,
        &Trust::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("only https://, http:// on loopback and file paths"),
        "{err}"
    );
}
