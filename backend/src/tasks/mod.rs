//! Tasks: submission, approval, cancellation, listing; the rules of a task's life before
//! it runs.

pub mod actions;
pub mod changes;
pub mod decisions;
pub mod expiry;
pub mod inputs;
pub mod runs;
pub mod service;

pub use service::{counts, get, list, submit, update, ListQuery, Submission};
