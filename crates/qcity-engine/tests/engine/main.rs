//! Engine integration tests: the real engine in-process, supervising real child processes.

mod support;

mod control;
mod output;
mod reload;
mod restart;
