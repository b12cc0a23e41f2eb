//! The checked-in files under `config/` stay in step with the types: the JSON Schemas are what
//! the types generate, and the sample config (what `qcity up` installs on first run) loads.

use std::path::{Path, PathBuf};

use qcity_config::{DeviceConfig, load_dir, schemas};

/// `config/` at the workspace root.
fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn checked_in_schemas_match_the_types() {
    let bless = std::env::var_os("QCITY_BLESS").is_some_and(|v| v == "1");
    let dir = config_dir().join("schemas");
    let mut stale = Vec::new();
    for (name, schema) in schemas() {
        let path = dir.join(name);
        let want = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            continue;
        }
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, want).unwrap();
        } else {
            stale.push(format!("config/schemas/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "out of date with the config types: {}\nregenerate with `make schemas` \
         (QCITY_BLESS=1 cargo test -p qcity-config --test schemas) and commit the result",
        stale.join(", ")
    );
}

#[test]
fn sample_config_loads_without_errors() {
    let config = load_dir(&config_dir()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config
        .manifest
        .runners
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["heartbeat", "flaky-build", "crashy"]);
    let installer = config
        .device
        .installer
        .clone()
        .expect("the sample offers QI");
    assert_eq!(installer.manifest, "qi/manifest.json");
    let written_out = DeviceConfig {
        schema: None,
        installer: None,
        ..config.device
    };
    assert_eq!(
        written_out,
        DeviceConfig::default(),
        "apart from the installer, the sample device config is the defaults"
    );
}

#[test]
fn sample_config_points_at_the_checked_in_schemas() {
    let config = load_dir(&config_dir()).unwrap();
    let refs = [
        config.manifest.schema.as_deref(),
        config.device.schema.as_deref(),
        config.cloud.schema.as_deref(),
    ];
    for (reference, (name, _)) in refs.into_iter().zip(schemas()) {
        assert_eq!(reference, Some(format!("schemas/{name}").as_str()));
    }
}

#[cfg(unix)]
#[test]
fn demo_script_is_executable_posix_sh() {
    use std::os::unix::fs::PermissionsExt;
    let script = config_dir().join("demo/flaky-runner.sh");
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert_ne!(mode & 0o111, 0, "{} is not executable", script.display());
    let status = std::process::Command::new("sh")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success(), "sh -n {} failed", script.display());
}
