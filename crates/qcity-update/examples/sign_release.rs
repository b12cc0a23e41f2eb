//! Publishes a file as a QCity release for the benchmarks (`bench/update_apply.py`): copies
//! it into DIR, writes DIR/update.json (the Tauri updater's format, this machine's target)
//! signed with a key made from SEED, its version in the trusted comment, and prints the
//! public key to pin in `update.public_key`. A bench key, not a release key.
//!
//! `cargo run -p qcity-update --example sign_release -- FILE VERSION DIR [SEED]`

use qcity_installer::verify::sign::KeyPair;
use sha2::Digest as _;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, version, dir, rest @ ..] = args.as_slice() else {
        eprintln!("usage: sign_release FILE VERSION DIR [SEED]");
        std::process::exit(2);
    };
    let seed: u8 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(7);
    let key = KeyPair::from_seed([seed; 32], [seed; 8]);
    let body = std::fs::read(file).expect("read FILE");
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).expect("create DIR");
    let name = format!("qcity-{version}");
    std::fs::write(dir.join(&name), &body).expect("write the release file");
    let manifest = serde_json::json!({
        "version": version,
        "platforms": {qcity_config::update_manifest::daemon_target(): {
            "url": name,
            "signature": key.sign(&body, &format!("version:{version}")),
            "size": body.len(),
            "sha256": hex::encode(sha2::Sha256::digest(&body)),
        }}
    });
    std::fs::write(dir.join("update.json"), manifest.to_string()).expect("write update.json");
    println!("{}", key.public_key());
}
