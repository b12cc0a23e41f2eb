//! The GitHub Actions executor: a job run by dispatching a target's workflow.
//!
//! The workflow takes three inputs (`correlation_id`, `job`, `command`: the argv as a JSON
//! string) and names its run after the first (`run-name: ${{ inputs.correlation_id }}`), so a
//! run can be found by its `display_title` when the server does not return its id.
//!
//! - `client.rs`: the REST calls (headers, the API's own errors turned into `ExecError`s),
//!   rate limits waited out, and the expiring redirects of downloads followed without the
//!   token.
//! - `limits.rs`: how long a rate-limited answer asks us to wait (pure).
//! - `token.rs`: the token, which prints `***`.
//! - `repo.rs`: a target's repository under the API root, and `link` pagination.
//! - `run.rs`: dispatch, find, poll, cancel, and the attempt's outcome.
//! - `fetch.rs`: the run's logs into the job's log and its artifacts into staging (zips,
//!   checked against GitHub's digest before they are opened).
//!
//! The token is read from the environment or the OS keyring (the config only names it) and
//! is never written anywhere: [`Token`] prints `***`, and the header carrying it is marked
//! sensitive.

mod client;
mod fetch;
mod limits;
mod repo;
mod run;
mod token;

pub use run::run;
pub use token::Token;
