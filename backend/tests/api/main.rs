//! Integration tests: the real server on a random port, on SQLite and on PostgreSQL.

mod helpers;
mod sshd;

mod accounts;
mod catalogue;
mod codo;
mod decisions;
mod errors;
mod events;
mod exec_safety;
mod gitlab_hook;
mod integrations;
mod mail;
mod run_actions;
mod runs;
mod schedules;
mod tasks;
mod ui;
