//! Health: probes checking each runner's service, the machine's resources, what each
//! runner's processes use, and the one overall colour the faces show.

pub mod probe;
pub mod resources;
pub mod usage;
