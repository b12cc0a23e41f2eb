//! Engine integration tests: the real engine in-process, supervising real child processes, on
//! the shared harness (`qcity-testkit`). The healer's tests are in `qcity-healer`.

mod control;
mod github;
mod kinds;
mod launcher;
mod output;
mod probes;
mod reload;
mod restart;
mod tasks;
