//! The release manifest: a good one parses; every error names line, column and field.

use qcity_config::release::{AssetFormat, AssetOs, parse_release_manifest};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn asset(os: &str, arch: &str, format: &str, extra: &str) -> String {
    format!(
        r#"{{"os": "{os}", "arch": "{arch}", "format": "{format}", {extra}"url": "https://example.org/qi-{os}-{arch}.{format}", "size": 1024, "sha256": "{SHA}", "signature": "RWQ..."}}"#
    )
}

const BAD_LIBC: &str = r#""libc": {"kind": "glibc", "min_vers": "2.31"}, "#;

fn errors(text: String) -> String {
    parse_release_manifest("releases.json", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_good_manifest_parses() {
    let text = format!(
        r#"{{"app": "QI", "versions": [{{"version": "1.4.0", "assets": [
            {},
            {},
            {}
        ], "features": [{{"name": "ocr", "description": "Text recognition", "default": true,
            "url": "features/ocr.tar.gz", "size": 10, "sha256": "{SHA}", "signature": "RWQ..."}}]}}]}}"#,
        asset(
            "linux",
            "x86_64",
            "deb",
            r#""libc": {"kind": "glibc", "min_version": "2.31"}, "#
        ),
        asset("macos", "universal", "dmg", ""),
        asset("windows", "x86_64", "msi", "")
    );
    let m = parse_release_manifest("https://example.org/releases.json", text).unwrap();
    assert_eq!(m.versions[0].assets.len(), 3);
    assert_eq!(m.versions[0].assets[0].format, AssetFormat::Deb);
    assert_eq!(m.versions[0].assets[1].os, AssetOs::Macos);
    assert!(m.versions[0].features[0].default);
}

#[test]
fn errors_name_the_line_and_the_field() {
    let text = format!(
        "{{\"app\": \"QI\", \"versions\": [\n{{\"version\": \"1.4\", \"assets\": [\n{},\n{}\n]}},\n{{\"version\": \"1.3.0\", \"assets\": [\n{}\n]}}]}}",
        asset("windows", "x86_64", "deb", ""),
        r#"{"os": "linux", "arch": "x86_64", "format": "tar.gz", "url": "http://evil.example/qi.tgz", "size": 0, "sha256": "abc", "signature": ""}"#,
        asset("linux", "x86_64", "AppImage", BAD_LIBC)
    );
    let errs = errors(text);
    for want in [
        "versions[1].assets[0].libc.min_vers: unknown field `min_vers`, did you mean `min_version`?",
        "releases.json:2:",
        "versions[0].version: `1.4` is not MAJOR.MINOR.PATCH",
        "versions[0].assets[0].format: a deb is not a windows package",
        "versions[0].assets[1].url: `http://evil.example/qi.tgz`: plain http is allowed only on loopback",
        "versions[0].assets[1].size: must be positive",
        "versions[0].assets[1].sha256: expected 64 hex digits",
        "versions[0].assets[1].signature: every file is signed",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
    // Alone, the unknown field still refuses the whole manifest: nothing is half-read.
    let text = format!(
        r#"{{"app": "QI", "versions": [{{"version": "1.3.0", "assets": [{}]}}]}}"#,
        asset("linux", "x86_64", "AppImage", BAD_LIBC)
    );
    let errs = errors(text);
    assert!(
        errs.contains("releases.json:1:") && errs.contains("min_vers"),
        "{errs}"
    );
}
