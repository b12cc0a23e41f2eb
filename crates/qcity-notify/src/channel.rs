//! Where notices go.

use qcity_types::Notice;

/// A destination for notices: the desktop, a chat service, mail. `deliver` is called on the
/// notifier's task and must not block it: a channel that talks to the network hands the
/// notice to a task or queue of its own.
pub trait Channel: Send + Sync {
    /// The name the config and the events use (`desktop`).
    fn name(&self) -> &str;
    fn deliver(&self, notice: &Notice);
}
