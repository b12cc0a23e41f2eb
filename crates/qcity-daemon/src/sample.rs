//! The sample configuration from `config/`, embedded so that `qcity up` works out of the box.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// (path inside the config dir, contents, executable)
const FILES: &[(&str, &str, bool)] = &[
    (
        "runner_manifest.json",
        include_str!("../../../config/runner_manifest.json"),
        false,
    ),
    (
        "qcity-device-config.json",
        include_str!("../../../config/qcity-device-config.json"),
        false,
    ),
    (
        "qmoi_cloud_config.json",
        include_str!("../../../config/qmoi_cloud_config.json"),
        false,
    ),
    (
        "demo/flaky-runner.sh",
        include_str!("../../../config/demo/flaky-runner.sh"),
        true,
    ),
    (
        "schemas/runner_manifest.schema.json",
        include_str!("../../../config/schemas/runner_manifest.schema.json"),
        false,
    ),
    (
        "schemas/qcity-device-config.schema.json",
        include_str!("../../../config/schemas/qcity-device-config.schema.json"),
        false,
    ),
    (
        "schemas/qmoi_cloud_config.schema.json",
        include_str!("../../../config/schemas/qmoi_cloud_config.schema.json"),
        false,
    ),
    (
        "schemas/release_manifest.schema.json",
        include_str!("../../../config/schemas/release_manifest.schema.json"),
        false,
    ),
    (
        "qi/manifest.json",
        include_str!("../../../config/qi/manifest.json"),
        false,
    ),
];

/// Writes the sample configuration into `dir` unless it already has a manifest. Existing
/// files are never overwritten. Returns whether anything was written.
pub fn install_if_missing(dir: &Path) -> io::Result<bool> {
    if dir.join(qcity_config::MANIFEST_FILE).exists() {
        return Ok(false);
    }
    for (rel, text, exec) in FILES {
        let path = dir.join(rel);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        if *exec {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    // The sample release's files are built, not embedded: the same bytes every time.
    qcity_installer::sample::write(&dir.join("qi"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_sample_is_a_valid_config_with_the_demo_runners() {
        let dir = tempfile::tempdir().unwrap();
        assert!(install_if_missing(dir.path()).unwrap());
        let config = qcity_config::load_dir(dir.path()).unwrap();
        let names: Vec<_> = config
            .manifest
            .runners
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["heartbeat", "flaky-build", "crashy"]);
        let installer = config.device.installer.as_ref().unwrap();
        let manifest = dir.path().join(&installer.manifest);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let release =
            qcity_config::release::parse_release_manifest("qi/manifest.json", text).unwrap();
        for asset in &release.versions[0].assets {
            let file = manifest.parent().unwrap().join(&asset.url);
            assert_eq!(
                std::fs::metadata(&file).unwrap().len(),
                asset.size,
                "{file:?}"
            );
        }
        let script = dir.path().join("demo/flaky-runner.sh");
        assert_eq!(
            std::fs::metadata(script).unwrap().permissions().mode() & 0o111,
            0o111
        );
        // A second run leaves the user's edits alone.
        std::fs::write(dir.path().join("runner_manifest.json"), "{\"runners\": []}").unwrap();
        assert!(!install_if_missing(dir.path()).unwrap());
        let again = std::fs::read_to_string(dir.path().join("runner_manifest.json")).unwrap();
        assert_eq!(again, "{\"runners\": []}");
    }
}
