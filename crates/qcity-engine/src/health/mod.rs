//! Health: probes checking each runner's service, the machine's resources, and the one
//! overall colour the faces show.

pub mod probe;
pub mod resources;
