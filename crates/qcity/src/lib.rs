//! The parts of the `qcity` binary that other faces reuse: the tray app starts the same daemon
//! in-process (`daemon::serve_until`) or attaches to a running one through the same client.

pub mod client;
pub mod daemon;
pub mod exit;
pub mod paths;
pub mod sample;
