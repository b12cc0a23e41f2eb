//! What QCity reads from the operating system, in one place: the clock, free disk space
//! (`statvfs`), program lookups on PATH, `/proc` (memory, load, processes and what
//! process groups use: `proc_usage`) and the kernel's
//! power-supply class, the process's resource limits, a file's checksum; and files only their owner may read (`private`).
//!
//! Pure reads, no policy: what a reading means (a threshold, a verdict, an event) is the
//! engine's business. Linux specifics sit behind `#[cfg(target_os = "linux")]`; elsewhere a
//! reading that cannot be made is `None` (or empty), never an error or a panic. Functions
//! that take a root directory (`proc_root`, the power-supply root) read whatever is laid out
//! there, so tests point them at a directory laid out like the kernel's.

pub mod checksum;
pub mod clock;
pub mod disk;
pub mod host;
pub mod limits;
pub mod load;
pub mod memory;
pub mod path;
pub mod power;
#[cfg(unix)]
pub mod private;
pub mod proc;
pub mod proc_usage;
