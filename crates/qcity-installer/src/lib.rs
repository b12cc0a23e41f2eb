//! The installer picker for the companion QI app: what this device is ([`device`]) and which
//! of a release's assets fit it, best first, each with the reasons it was ranked so
//! ([`rank`]). Downloading, verifying and installing build on this.

pub mod device;
pub mod fetch;
pub mod install;
pub mod rank;
pub mod sample;
pub mod verify;

pub use device::{Device, detect};
pub use rank::{Choice, rank};
