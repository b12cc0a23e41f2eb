//! The machine's status: what it has (disks, memory, load, battery) and a verdict per
//! resource, as `GET /api/v1/machine` answers.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::health::{Health, ProbeStatus};

/// What the machine has, at one reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Readings {
    /// Free space in MiB for each watched directory.
    pub disks: Vec<DiskReading>,
    pub available_memory_mb: Option<u64>,
    pub load_1m: Option<f64>,
    pub cpus: usize,
    pub battery: Option<Battery>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiskReading {
    pub path: PathBuf,
    pub free_mb: Option<u64>,
}

/// The batteries and mains adapters of the power-supply class, summed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Battery {
    /// Charge of the first battery, in percent.
    pub percent: u8,
    /// `Charging`, `Discharging`, `Full`, `Not charging` as the kernel says.
    pub status: String,
    /// Whether a mains adapter says it is online (`None`: there is no adapter entry).
    pub ac_online: Option<bool>,
}

impl Battery {
    /// Running on the battery: no adapter online and the battery discharging.
    pub fn on_battery(&self) -> bool {
        self.ac_online != Some(true) && self.status == "Discharging"
    }
}

/// The machine's status: readings, a verdict per resource, and the worst of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct MachineStatus {
    pub health: Option<Health>,
    pub resources: Vec<ProbeStatus>,
    pub readings: Option<Readings>,
}
