//! The healer on real failures: the real engine and the healer in-process, as the daemon
//! runs them, supervising and healing real child processes.

mod support;

mod disk;
mod dry_run;
mod fixes;
mod hopeless;
mod launcher;
mod learning;
mod locks;
mod loops;
mod ports;
mod start;
