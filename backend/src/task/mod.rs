//! The task and its run as the engine sees them: who owns a run and for how long
//! ([`lease`]), below the request-facing services (`tasks`), the scheduler and the
//! executor, which all go through it.

pub mod lease;
