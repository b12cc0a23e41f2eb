//! One module per status-page format. Each turns a fetched body into a [`Parsed`]: the
//! normalised state, a one-line summary and the active incidents. Pure: no I/O, no clock.
//! A body that is not what its format says is a [`ParseError`] (the poller shows the
//! platform as unknown), never a guess and never a panic.
//!
//! `Parsed` and `ParseError` live in `parsed.rs` so the format modules can name them without
//! importing from this module, which declares them (scripts/circles.py).

pub mod aws;
pub mod azure;
pub mod better_stack;
pub mod gcp;
mod json;
mod parsed;
pub mod status_io;
pub mod statuspage;
mod utf16;

pub use parsed::{MAX_INCIDENTS, MAX_TITLE_CHARS, ParseError, Parsed};

/// Which format a page speaks. The config names it (a custom page says its format), so the
/// enum is the config's: one list of formats, not two to keep in step.
pub use qcity_config::PlatformProvider as Provider;

/// Which part of a whole-cloud page concerns the user. The other formats describe one
/// product, all of which concerns its users, so they take nothing from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Watch {
    /// AWS services (`ec2`), regions (`us-east-1`) or a service in a region
    /// (`ec2-us-east-1`); an event matching any entry counts. Empty: every event.
    pub aws: Vec<String>,
    /// Google Cloud products as the page names them (`Google Compute Engine`). Empty: all.
    pub gcp_products: Vec<String>,
}

/// Read `body` as `provider`'s format, keeping only what `watch` says concerns the user.
pub fn parse(provider: Provider, body: &[u8], watch: &Watch) -> Result<Parsed, ParseError> {
    match provider {
        Provider::Statuspage => statuspage::parse(body),
        Provider::StatusIo => status_io::parse(body),
        Provider::BetterStack => better_stack::parse(body),
        Provider::Gcp => gcp::parse_watching(body, &watch.gcp_products),
        Provider::Aws => aws::parse_watching(body, &watch.aws),
        Provider::Azure => azure::parse(body),
    }
}

#[cfg(test)]
mod tests;
