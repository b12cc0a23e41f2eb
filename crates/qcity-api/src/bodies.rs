//! Answers of this API that are its own rather than the shared wire vocabulary
//! (`qcity-types`): they carry the config crate's types.

/// `GET /config`: the configuration that runs, secrets in `env` redacted, and whether the files
/// on disk (what a reload would apply) are valid.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ConfigView {
    pub dir: std::path::PathBuf,
    /// The runner manifest; `env` values whose names say they are secrets are `<redacted>`.
    #[schemars(with = "qcity_config::RunnerManifest")]
    pub manifest: serde_json::Value,
    pub device: qcity_config::DeviceConfig,
    pub on_disk: OnDisk,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct OnDisk {
    pub valid: bool,
    /// Every error, as `file:line:column: path: message`.
    pub errors: Vec<String>,
}
