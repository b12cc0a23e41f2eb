//! Engine integration tests: the real engine in-process, supervising real child processes.

mod support;

mod control;
mod github;
mod healer;
mod kinds;
mod launcher;
mod output;
mod probes;
mod reload;
mod restart;
mod tasks;
