//! A file's SHA-256, read in 64 KiB blocks (backups and build artifacts record it).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The file's SHA-256 in lower-case hex, and its length in bytes.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    sha256_reader(&mut std::fs::File::open(path)?)
}

/// What `r` gives until its end: SHA-256 in lower-case hex, and the length in bytes.
pub fn sha256_reader(f: &mut impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sum_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let (sum, bytes) = super::sha256_file(&p).unwrap();
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(bytes, 3);
    }
}
