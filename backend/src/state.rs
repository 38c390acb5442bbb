//! What every request handler and background loop shares.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::accounts::limiter::LoginLimiter;
use crate::crypto::Keys;
use crate::settings::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Woken when a task gains an approval deadline, so the expiry sweeper re-plans.
    pub approval_deadlines: Arc<Notify>,
}

impl AppState {
    pub fn new(db: Db, keys: Keys, settings: Settings) -> Self {
        let limiter = LoginLimiter::new(settings.login_max_failures, settings.login_window_secs);
        AppState {
            db,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
            login_limiter: Arc::new(limiter),
            approval_deadlines: Arc::new(Notify::new()),
        }
    }
}
