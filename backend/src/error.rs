//! The domain error every service returns; mapped to HTTP once, in `http::error`.

use api_types::{FieldError, Message};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Validation(FieldError),
    #[error("{0}")]
    Conflict(Message),
    #[error("cannot {action} task {id}: it is {}", from.as_str())]
    InvalidTransition { id: i64, action: &'static str, from: api_types::TaskStatus },
    #[error("{0}")]
    Unauthorized(Message),
    #[error("{0}")]
    Forbidden(Message),
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// Too much work of one kind at once (password hashing): try again shortly.
    #[error("{0}")]
    Busy(Message),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn validation(field: impl Into<String>, message: impl Into<api_types::Message>) -> Self {
        ServiceError::Validation(FieldError::new(field, message))
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        ServiceError::NotFound { what, id: id.to_string() }
    }

    /// What the error says, to be read in the asker's language (internal errors say
    /// nothing of their cause).
    pub fn message(&self) -> Message {
        match self {
            ServiceError::NotFound { what, id } => {
                Message::new("{what} {id} not found").nested("what", Message::new(what)).arg("id", id)
            }
            ServiceError::Validation(f) => f.say.clone(),
            ServiceError::Conflict(m)
            | ServiceError::Unauthorized(m)
            | ServiceError::Forbidden(m)
            | ServiceError::Busy(m) => m.clone(),
            ServiceError::InvalidTransition { id, action, from } => {
                Message::new("cannot {action} task {id}: it is {status}")
                    .nested("action", Message::new(action))
                    .arg("id", id)
                    .nested("status", Message::new(from.as_str()))
            }
            ServiceError::RateLimited { retry_after_secs } => {
                Message::new("too many failed logins; try again in {secs} seconds").arg("secs", retry_after_secs)
            }
            ServiceError::Internal(_) => Message::new("internal error"),
        }
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Validation(e)
    }
}

/// Store errors without context: a missing row here is a server fault, because callers
/// that expect "not found" say so with [`NotFoundExt::or_not_found`].
impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(msg) => ServiceError::Conflict(msg),
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

pub trait NotFoundExt<T> {
    /// Turns `StoreError::NotFound` into a 404 that names the object.
    fn or_not_found(self, what: &'static str, id: impl ToString) -> ServiceResult<T>;
}

impl<T> NotFoundExt<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &'static str, id: impl ToString) -> ServiceResult<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => ServiceError::not_found(what, id),
            other => other.into(),
        })
    }
}
