//! Integration tests: the real server on a random port, on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod catalogue;
mod codo;
mod decisions;
mod errors;
mod tasks;
