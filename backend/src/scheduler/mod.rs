//! Starting tasks: the dispatcher that starts each `ready` task when it falls due, and
//! the recovery of runs whose instance stopped.

pub mod dispatcher;
pub mod recovery;
