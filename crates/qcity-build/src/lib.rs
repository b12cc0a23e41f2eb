//! The build driver (`qcity build`): projects found by their build markers, with a plan for
//! each (`scan`), and the plan run for real under a lock per project, with retries, and each
//! artifact's SHA-256 recorded (`run`).

pub mod run;
pub mod scan;

pub use run::{BuildRecord, RunOptions, append_report, lock_path, report_path};
pub use scan::{Project, Step, scan};
