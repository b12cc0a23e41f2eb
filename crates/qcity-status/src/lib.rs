//! Platform status: each platform's public status page, read through its provider's format
//! and normalised to one model (`qcity_types::PlatformState`), polled by the daemon.

pub mod catalog;
mod poller;
pub mod providers;

pub use poller::{Platforms, start};
