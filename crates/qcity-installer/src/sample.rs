//! The sample QI release that the sample configuration offers (`config/qi/manifest.json`):
//! small real packages — a tar.gz per architecture and libc, a `.deb`, and an optional
//! feature — built here byte for byte the same on every machine, so the sizes, SHA-256 sums
//! and signatures in the checked-in manifest stay true. The signing key is not in the
//! project; the manifest's signatures were made once with it (`make sample-release`).
//!
//! Reproducible by construction: fixed names, modes, owners and times; gzip with stored
//! (uncompressed) deflate blocks, so no compressor version can change a byte.

use std::path::Path;

pub const APP: &str = "qi-sample";
pub const VERSION: &str = "1.0.0";

/// One sample file: the manifest's path for it and its bytes.
pub struct SampleFile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// Every file of the sample release, in the manifest's order (assets, then the feature).
pub fn files() -> Vec<SampleFile> {
    let tarball = |arch: &str, libc: &str| {
        let exe = launcher(&format!("{arch}, {libc}"));
        gzip(&tar(&[
            Entry::dir("qi-sample/"),
            Entry::dir("qi-sample/bin/"),
            Entry::file("qi-sample/bin/qi-sample", 0o755, exe.as_bytes()),
            Entry::file("qi-sample/README", 0o644, README.as_bytes()),
        ]))
    };
    let completions = gzip(&tar(&[
        Entry::dir("completions/"),
        Entry::file(
            "completions/qi-sample.bash",
            0o644,
            b"complete -W \"--version --help\" qi-sample\n",
        ),
    ]));
    vec![
        SampleFile {
            name: "qi-sample-1.0.0-linux-x86_64.tar.gz",
            bytes: tarball("x86_64", "glibc"),
        },
        SampleFile {
            name: "qi-sample-1.0.0-linux-x86_64-musl.tar.gz",
            bytes: tarball("x86_64", "musl"),
        },
        SampleFile {
            name: "qi-sample-1.0.0-linux-aarch64.tar.gz",
            bytes: tarball("aarch64", "glibc"),
        },
        SampleFile {
            name: "qi-sample_1.0.0_amd64.deb",
            bytes: deb(),
        },
        SampleFile {
            name: "qi-sample-completions-1.0.0.tar.gz",
            bytes: completions,
        },
    ]
}

/// Writes the files into `dir`, leaving alone those already there with the right bytes.
pub fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for f in files() {
        let path = dir.join(f.name);
        if std::fs::read(&path).is_ok_and(|b| b == f.bytes) {
            continue;
        }
        std::fs::write(path, &f.bytes)?;
    }
    Ok(())
}

const README: &str = "QI sample: a stand-in for the QI app, installed by QCity's installer \
picker to show the whole flow (download, verification, install) without the internet.\n";

fn launcher(build: &str) -> String {
    format!("#!/bin/sh\necho \"QI sample {VERSION} ({build})\"\n")
}

fn deb() -> Vec<u8> {
    let control = format!(
        "Package: {APP}\nVersion: {VERSION}\nArchitecture: amd64\nMaintainer: QCity <qcity@localhost>\n\
         Section: misc\nPriority: optional\nDescription: QI sample\n {}\n",
        "A stand-in for the QI app, installed by QCity's installer picker."
    );
    let exe = launcher("x86_64, deb");
    let control_tar = tar(&[
        Entry::dir("./"),
        Entry::file("./control", 0o644, control.as_bytes()),
    ]);
    let data_tar = tar(&[
        Entry::dir("./"),
        Entry::dir("./usr/"),
        Entry::dir("./usr/bin/"),
        Entry::file("./usr/bin/qi-sample", 0o755, exe.as_bytes()),
    ]);
    // dpkg reads uncompressed control.tar and data.tar members.
    ar(&[
        ("debian-binary", b"2.0\n".as_slice()),
        ("control.tar", &control_tar),
        ("data.tar", &data_tar),
    ])
}

struct Entry<'a> {
    name: &'a str,
    mode: u32,
    data: Option<&'a [u8]>,
}

impl<'a> Entry<'a> {
    fn dir(name: &'a str) -> Self {
        Entry {
            name,
            mode: 0o755,
            data: None,
        }
    }
    fn file(name: &'a str, mode: u32, data: &'a [u8]) -> Self {
        Entry {
            name,
            mode,
            data: Some(data),
        }
    }
}

/// A ustar archive, owned by root, time 0.
fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        assert!(e.name.len() <= 100, "sample names are short");
        put(&mut h, 0, e.name.as_bytes());
        octal(&mut h, 100, 8, u64::from(e.mode));
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, e.data.map_or(0, |d| d.len() as u64));
        octal(&mut h, 136, 12, 0);
        h[156] = if e.data.is_some() { b'0' } else { b'5' };
        put(&mut h, 257, b"ustar\0");
        put(&mut h, 263, b"00");
        put(&mut h, 265, b"root");
        put(&mut h, 297, b"root");
        // The checksum is summed with its own field as spaces.
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        if let Some(d) = e.data {
            out.extend_from_slice(d);
            out.resize(out.len().next_multiple_of(512), 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// gzip (RFC 1952) of stored deflate blocks (RFC 1951 §3.2.4), mtime 0, no name.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let chunks: Vec<&[u8]> = data.chunks(0xffff).collect();
    if chunks.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A System V `ar` archive (the `.deb` container), time 0, root, mode 644.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let head = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            "100644",
            data.len()
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_matches_the_published_check_value() {
        // The CRC-32 check value of "123456789" (RFC 1952's polynomial).
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
