//! JSON Schemas of the three files, generated from the types with schemars.

use serde_json::Value;

use crate::offload::CloudConfig;
use crate::types::{DeviceConfig, RunnerManifest};

/// `(schema file name, schema)` for each configuration file, e.g.
/// `("runner_manifest.schema.json", …)`. The repository keeps them in `config/schemas/`, where
/// the sample files' `$schema` keys point.
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "runner_manifest.schema.json",
            schemars::schema_for!(RunnerManifest).to_value(),
        ),
        (
            "qcity-device-config.schema.json",
            schemars::schema_for!(DeviceConfig).to_value(),
        ),
        (
            "qmoi_cloud_config.schema.json",
            schemars::schema_for!(CloudConfig).to_value(),
        ),
        (
            "release_manifest.schema.json",
            schemars::schema_for!(crate::release::ReleaseManifest).to_value(),
        ),
    ]
}
