//! The running build's version, stated once by the face that runs (the `qcity` binary, the
//! tray app) before anything asks for it. A release pipeline, or a test's newer build, sets
//! `QCITY_BUILD_VERSION` when it compiles the face; reading it there and not in each library
//! means a build with another version recompiles only the face's own crate.

use std::sync::OnceLock;

static VERSION: OnceLock<&'static str> = OnceLock::new();

/// Sets the running version; the first call wins (later ones are ignored).
pub fn set(version: &'static str) {
    let _ = VERSION.set(version);
}

/// The running version: what the face set, else the workspace's (libraries in their own
/// tests).
pub fn get() -> &'static str {
    VERSION.get().copied().unwrap_or(env!("CARGO_PKG_VERSION"))
}
