//! Integration tests: the real server on a random port, on SQLite and on PostgreSQL.

mod helpers;
mod instances;
mod sshd;

mod accounts;
mod attacks;
mod browser_csp;
mod catalogue;
mod codo;
mod codo_csrf;
mod decisions;
mod errors;
mod events;
mod exec_safety;
mod faults;
mod fences;
mod gitlab_hook;
mod hostile_input;
mod integrations;
mod live_lists;
mod log_reading;
mod mail;
mod run_actions;
mod runs;
mod schedules;
mod shells;
mod spec;
mod tasks;
mod tickets;
mod ui;
mod ui_files;
mod ui_fleet;
mod ui_i18n;
mod ui_lists;
