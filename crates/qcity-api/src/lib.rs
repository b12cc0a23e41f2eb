//! QCity's local HTTP API, under `/api/v1`: the one way the CLI (and later the dashboard and
//! the tray app) reach the engine.
//!
//! Requests carry the master token (`Authorization: Bearer TOKEN`) or a dashboard session
//! cookie (`auth`); each route says which role it needs. The document in `openapi.json` is the
//! contract, and a test keeps the router and the document in step.

pub mod auth;
mod daemon_info;
mod error;
mod metrics;
pub mod qi;
mod routes;
mod stream;
pub mod token;
pub mod types;
mod ui;

pub use daemon_info::DaemonInfo;
pub use error::ApiError;
pub use routes::{Access, ROUTES, router, serve};
pub use token::{Token, TokenError};

/// The OpenAPI 3.1 document of this API, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Header a client sets to say which face it is (`cli`, `tray`…); it becomes part of the
/// actor recorded in the audit log, after the role the token proves.
pub const CLIENT_HEADER: &str = "x-qcity-client";
