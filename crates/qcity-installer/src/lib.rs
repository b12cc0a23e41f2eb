//! The installer picker for the companion QI app: what this device is ([`device`]) and which
//! of a release's assets fit it, best first, each with the reasons it was ranked so
//! ([`rank`]). Downloading ([`fetch`]), verifying ([`verify`]) and installing ([`install`])
//! build on this; the [`gate`] says whether this device may install now, and the [`flow`]
//! runs an install (pick, fetch, verify, install) and reports its steps. No engine: the
//! caller hands the gate its facts and takes the steps as they come.

pub mod device;
pub mod fetch;
pub mod flow;
pub mod gate;
pub mod install;
pub mod rank;
pub mod sample;
pub mod verify;

pub use device::{Device, detect};
pub use rank::{Choice, rank};
