//! QCity's SQLite store. Synchronous (rusqlite): the engine calls it from its own writer
//! threads. It stores rows given to it and knows nothing of the engine's types.

mod audit;
mod db;
mod error;
mod events;
mod heal;
mod ledger;
mod migrate;
mod outbox;
mod snapshot;
mod users;

pub use audit::{AuditRecord, AuditReport};
pub use db::Store;
pub use error::StoreError;
pub use events::{EventQuery, EventRow};
pub use heal::{RuleStats, SignatureRow};
pub use ledger::{LedgerOp, ProcessRecord};
pub use migrate::SCHEMA_VERSION;
pub use outbox::{OutboxRow, OutboxSummary};
pub use snapshot::check_file;
pub use users::{SessionRow, UserRow};
