//! The task and its run as the engine sees them, below the request-facing services
//! (`tasks`), the scheduler and the executor, which all go through it: the typed task
//! decoded once from its row ([`model`]), its sealed arguments and approval digest
//! ([`sealed`]), and who owns a run and for how long ([`lease`]).

pub mod lease;
pub mod model;
pub mod sealed;

use crate::crypto::CryptoError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sealed argument {key:?} cannot be opened")]
    Sealed {
        key: String,
        #[source]
        source: CryptoError,
    },
}

impl From<TaskError> for crate::error::ServiceError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Store(s) => s.into(),
            other => crate::error::ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}
