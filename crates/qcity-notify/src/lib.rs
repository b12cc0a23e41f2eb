//! The notifier: it follows the engine's bus, decides which events deserve a notice (the
//! rules, de-duplication and rate limit in [`rules`]) once per channel with that channel's
//! severity filter, and hands each notice to its [`Channel`]. It runs in the daemon, so a
//! headless `qcity up` notifies as the tray app does; the desktop is one channel
//! ([`Desktop`]), whose notices reach the tray as `notice` events.
//!
//! A channel with a heavy dependency (SMTP, a chat service's HTTPS API) belongs in a module or
//! crate of its own behind [`Channel`]; this crate only decides and dispatches.

mod channel;
pub mod channels;
mod desktop;
pub mod group;
pub mod message;
pub mod remote;
pub mod rules;
mod service;
pub mod target;

pub use channel::Channel;
pub use desktop::Desktop;
pub use remote::{ChannelReport, QueueError, Remote};
pub use rules::{Notifier, Shown};
pub use service::{Handle, Route, accepts, start};
