//! QCity's configuration: three JSON files in one directory.
//!
//! - `runner_manifest.json` (required): the runners to supervise.
//! - `qcity-device-config.json` (optional): API and supervisor settings of this device.
//! - `qmoi_cloud_config.json` (optional): where jobs may run (offload targets, placement) and
//!   the object store of their artifacts and caches.
//!
//! [`load_dir`] reads them into a [`Config`]. Types reject unknown fields, nothing is clamped
//! or repaired, and every error (all of them, not just the first) names file, line, column and
//! the JSON path of the field:
//!
//! ```text
//! runner_manifest.json:12:20: runners[2].restart.delay_ms: invalid type: string "x", expected u64
//! ```
//!
//! [`schemas`] gives the JSON Schemas of the three files, as checked in under `config/schemas/`.

mod error;
mod load;
mod locate;
mod offload_check;
mod path;
mod schema;
mod source;
mod suggest;
mod types;
mod validate;

pub mod channel_url;
pub mod cron;
pub mod offload;
pub mod probe_target;
pub mod release;
pub mod secret_ref;
pub mod update_manifest;

pub use error::{ConfigError, ConfigErrors};
pub use load::load_dir;
pub use offload::*;
pub use offload_check::secret_field;
pub use schema::schemas;
pub use types::*;
