//! End-to-end tests of the real `qcity` binary: a daemon with real runner processes, driven
//! through the CLI and the HTTP API, its store edited with SQL behind its back.

mod support;

mod audit;
mod backup;
mod build;
mod channels;
mod cli;
mod crash;
mod daemon;
mod disk_full;
mod fleet;
mod flood;
mod heal;
mod hooks;
mod jobs;
mod notify;
mod platforms;
mod qi;
mod secret;
mod service;
mod update;
mod update_apply;
mod usage;
