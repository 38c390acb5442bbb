//! Request and response types shared by the Taskgate server and its web UI.
//!
//! Types derive serde always and poem-openapi only with the `openapi` feature, so the
//! wasm frontend decodes exactly what the server sends without pulling in poem.

pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod error;
pub mod integrations;
pub mod message;
pub mod runs;
pub mod schedules;
pub mod tasks;
pub mod validate;

pub use audit::*;
pub use auth::*;
pub use catalogue::*;
pub use error::*;
pub use integrations::*;
pub use message::Message;
pub use runs::*;
pub use schedules::*;
pub use tasks::*;
