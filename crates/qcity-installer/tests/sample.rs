//! The sample release the sample configuration offers: the files built here must be the
//! ones the checked-in manifest describes (size, SHA-256) and signs (with the public key
//! pinned in the sample device config), and they must be real packages.
//!
//! `QCITY_SAMPLE_KEY=FILE` (64 hex digits, the Ed25519 seed) rewrites the manifest after a
//! change to the sample files (`make sample-release`); the key is not kept in the project.

use std::path::{Path, PathBuf};
use std::process::Command;

use qcity_config::release::{ReleaseFile, parse_release_manifest};
use qcity_installer::sample;
use qcity_installer::verify::{PublicKey, verify_file};
use sha2::Digest;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The manifest's entry for each sample file: (os, arch, libc, format) of an asset, or the
/// feature's (name, description, default).
fn entry(name: &str) -> serde_json::Value {
    use serde_json::json;
    let glibc = json!({"kind": "glibc", "min_version": "2.17"});
    match name {
        "qi-sample-1.0.0-linux-x86_64.tar.gz" => {
            json!({"os": "linux", "arch": "x86_64", "libc": glibc, "format": "tar.gz"})
        }
        "qi-sample-1.0.0-linux-x86_64-musl.tar.gz" => {
            json!({"os": "linux", "arch": "x86_64", "libc": {"kind": "musl"}, "format": "tar.gz"})
        }
        "qi-sample-1.0.0-linux-aarch64.tar.gz" => {
            json!({"os": "linux", "arch": "aarch64", "libc": glibc, "format": "tar.gz"})
        }
        "qi-sample_1.0.0_amd64.deb" => {
            json!({"os": "linux", "arch": "x86_64", "libc": glibc, "format": "deb"})
        }
        "qi-sample-completions-1.0.0.tar.gz" => json!({
            "name": "shell-completions",
            "description": "Tab completion for bash",
            "default": false
        }),
        other => panic!("no manifest entry for {other}"),
    }
}

fn sample_public_key() -> PublicKey {
    let text = std::fs::read_to_string(config_dir().join("qcity-device-config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    PublicKey::parse(config["installer"]["public_key"].as_str().unwrap()).unwrap()
}

fn bless(key_file: &str) {
    use qcity_installer::verify::sign::KeyPair;
    let hex_seed = std::fs::read_to_string(key_file).unwrap();
    let seed: [u8; 32] = hex::decode(hex_seed.trim()).unwrap().try_into().unwrap();
    let keys = KeyPair::from_seed(seed, *b"qisample");
    let (mut assets, mut features) = (Vec::new(), Vec::new());
    for f in sample::files() {
        let mut e = entry(f.name);
        e["url"] = f.name.into();
        e["size"] = f.bytes.len().into();
        e["sha256"] = hex::encode(sha2::Sha256::digest(&f.bytes)).into();
        e["signature"] = keys
            .sign(
                &f.bytes,
                &format!("{} {} {}", sample::APP, sample::VERSION, f.name),
            )
            .into();
        if e.get("os").is_some() {
            assets.push(e);
        } else {
            features.push(e);
        }
    }
    let manifest = serde_json::json!({
        "$schema": "../schemas/release_manifest.schema.json",
        "app": sample::APP,
        "versions": [{
            "version": sample::VERSION,
            "notes": "The sample release: small real packages built by QCity itself, so the installer picker can be tried without the internet.",
            "assets": assets,
            "features": features,
        }]
    });
    let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    std::fs::write(config_dir().join("qi/manifest.json"), text).unwrap();
    println!("installer.public_key: {}", keys.public_key());
}

#[test]
fn the_sample_manifest_describes_and_signs_the_files_built_here() {
    if let Some(key) = std::env::var("QCITY_SAMPLE_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        bless(&key);
    }
    let path = config_dir().join("qi/manifest.json");
    let manifest =
        parse_release_manifest("qi/manifest.json", std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
    let key = sample_public_key();
    let release = &manifest.versions[0];
    let mut listed: Vec<ReleaseFile> = release.assets.iter().map(|a| a.file()).collect();
    listed.extend(release.features.iter().map(|f| f.file()));
    let built = sample::files();
    assert_eq!(
        listed.iter().map(|f| f.url.as_str()).collect::<Vec<_>>(),
        built.iter().map(|f| f.name).collect::<Vec<_>>(),
        "the manifest lists exactly the sample files"
    );
    let dir = tempfile::tempdir().unwrap();
    sample::write(dir.path()).unwrap();
    for file in &listed {
        verify_file(&dir.path().join(&file.url), file, &key).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (rebuild the manifest: make sample-release)",
                file.url
            )
        });
    }
}

#[test]
fn the_sample_files_are_real_packages() {
    let dir = tempfile::tempdir().unwrap();
    sample::write(dir.path()).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // gzip's own integrity check (CRC and length), then tar unpacks it and the launcher runs.
    run(Command::new("gzip")
        .arg("-t")
        .arg(dir.path().join("qi-sample-1.0.0-linux-x86_64.tar.gz")));
    let into = dir.path().join("unpacked");
    std::fs::create_dir(&into).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(dir.path().join("qi-sample-1.0.0-linux-x86_64.tar.gz"))
        .arg("-C")
        .arg(&into));
    let said = run(&mut Command::new(into.join("qi-sample/bin/qi-sample")));
    assert_eq!(said, "QI sample 1.0.0 (x86_64, glibc)\n");

    let deb = dir.path().join("qi-sample_1.0.0_amd64.deb");
    let info = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&deb)
        .arg("Package")
        .arg("Version"));
    assert_eq!(info, "Package: qi-sample\nVersion: 1.0.0\n");
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    assert!(contents.contains("./usr/bin/qi-sample"), "{contents}");

    // Writing again leaves identical files alone and rebuilds the same bytes.
    let before = std::fs::read(&deb).unwrap();
    sample::write(dir.path()).unwrap();
    assert_eq!(std::fs::read(&deb).unwrap(), before);
}
