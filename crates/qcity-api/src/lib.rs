//! QCity's local HTTP API, under `/api/v1`: the one way the CLI, the dashboard and the tray
//! app reach the engine.
//!
//! Requests carry the master token (`Authorization: Bearer TOKEN`) or a dashboard session
//! cookie (`auth`); each route says which role it needs. The OpenAPI document is generated
//! (`openapi/`) from the route table and the wire types, and is the contract.

pub mod auth;
mod bodies;
mod connections;
mod daemon_info;
mod error;
mod jobs;
mod metrics;
mod openapi;
pub mod qi;
mod queries;
mod redact;
mod routes;
mod stream;
pub mod token;
mod ui;
mod update;

pub use connections::ConnectionLimits;
pub use daemon_info::DaemonInfo;
pub use error::ApiError;
pub use routes::{Access, ROUTES, Services, router, serve};
pub use token::{Token, TokenError};

/// The OpenAPI 3.1 document of this API, served at `/api/v1/openapi.json` (generated from the
/// route table and the wire types; `crates/qcity-api/openapi.json` is its checked-in copy).
pub fn openapi_document() -> &'static str {
    static DOC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut text = serde_json::to_string_pretty(&openapi::document()).expect("a JSON document");
        text.push('\n');
        text
    });
    &DOC
}

/// Header a client sets to say which face it is (`cli`, `tray`…); it becomes part of the
/// actor recorded in the audit log, after the role the token proves.
pub const CLIENT_HEADER: &str = "x-qcity-client";
