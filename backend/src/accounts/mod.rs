//! Accounts: who is calling (sessions and API tokens), what they may do, and the
//! management of users and tokens.

pub mod limiter;
pub mod passwords;
pub mod principal;
pub mod service;
pub mod tokens;

pub use principal::Principal;
