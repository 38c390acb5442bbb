//! HTTP plumbing shared by every route: error mapping, JSON bodies, authentication.

pub mod auth;
pub mod error;
pub mod headers;
pub mod payload;
pub mod spec;
pub mod strict;
pub mod ui;
