//! Password hashing off the async workers: each argon2 run (19 MiB, tens of milliseconds
//! of CPU) goes to the blocking pool, a few at a time, so logins never stall other requests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore};

use crate::crypto;
use crate::error::{ServiceError, ServiceResult};

/// How long a hash may wait for its turn before the request is answered `429 busy`.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

pub struct Passwords {
    slots: Arc<Semaphore>,
    max_wait: Duration,
    dummy: OnceCell<String>,
}

impl Passwords {
    /// At most `slots` hashes run at once; the others wait up to `max_wait`.
    pub fn new(slots: usize, max_wait: Duration) -> Self {
        Passwords { slots: Arc::new(Semaphore::new(slots.max(1))), max_wait, dummy: OnceCell::new() }
    }

    pub async fn hash(&self, password: &str) -> ServiceResult<String> {
        let password = password.to_string();
        self.run(move || crypto::hash_password(&password)).await?.map_err(|e| ServiceError::Internal(e.into()))
    }

    pub async fn verify(&self, password: &str, hash: &str) -> ServiceResult<bool> {
        let (password, hash) = (password.to_string(), hash.to_string());
        self.run(move || crypto::verify_password(&password, &hash)).await
    }

    /// A hash of no one's password, to verify against when the user is unknown, so that
    /// the time taken does not reveal which usernames exist.
    pub async fn dummy_hash(&self) -> ServiceResult<&str> {
        self.dummy.get_or_try_init(|| self.hash("no such user")).await.map(String::as_str)
    }

    /// Runs `work` on the blocking pool once a slot is free. The slot is held by the work
    /// itself, so a caller that gives up (a closed connection) does not free it early.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> ServiceResult<T> {
        let permit = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                ServiceError::Busy("the server is busy checking passwords; try again in a few seconds".into())
            })?
            .map_err(|e| ServiceError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ServiceError::Internal(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_a_full_pool_answers_busy() {
        let p = Passwords::new(1, Duration::from_millis(50));
        let hash = p.hash("correct horse").await.unwrap();
        assert!(p.verify("correct horse", &hash).await.unwrap());
        assert!(!p.verify("wrong horse", &hash).await.unwrap());
        let _held = p.slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(p.verify("correct horse", &hash).await, Err(ServiceError::Busy(_))));
    }
}
