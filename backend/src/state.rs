//! What every request handler and background loop shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, Notify, Semaphore};

use crate::accounts::limiter::LoginLimiter;
use crate::accounts::passwords::{self, Passwords};
use crate::crypto::Keys;
use crate::settings::Settings;
use crate::store::Db;
use crate::task::lease::Lease;
pub use crate::task::lease::RunRegistry;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<LoginLimiter>,
    /// Password hashing, a few at a time, off the async workers.
    pub passwords: Arc<Passwords>,
    /// Woken when a task gains an approval deadline, so the expiry sweeper re-plans.
    pub approval_deadlines: Arc<Notify>,
    /// Woken when a task becomes `ready` here, so the dispatcher re-plans.
    pub dispatch: Arc<Notify>,
    /// Woken when schedules change, so the cron jobs follow.
    pub schedules_changed: Arc<Notify>,
    /// Woken when mail is queued, so the mailer sends it.
    pub mail_queued: Arc<Notify>,
    /// This instance's name in `tasks.claimed_by`.
    pub node_id: Arc<str>,
    /// New events (log lines, status changes) per task, for live streams.
    pub events: Arc<EventHub>,
    /// Runs in progress on this instance.
    pub runs: Arc<RunRegistry>,
    /// Hosts worked on at once across all runs of this instance.
    pub run_slots: Arc<Semaphore>,
    /// SSH handshakes in progress at once on this instance.
    pub handshakes: Arc<Semaphore>,
    /// Live event streams open on this instance, per user.
    pub streams: Arc<StreamCounts>,
}

impl AppState {
    pub fn new(db: Db, keys: Keys, settings: Settings, node_id: String) -> Self {
        let limiter = LoginLimiter::new(
            settings.login_max_failures,
            settings.login_max_address_failures,
            settings.login_window_secs,
        );
        let passwords = Passwords::new(settings.max_password_hashes, passwords::MAX_WAIT);
        let (slots, handshakes) = (settings.max_parallel_hosts, settings.max_handshakes);
        let lease = Lease::new(std::time::Duration::from_secs(settings.run_lease_secs));
        AppState {
            db,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
            login_limiter: Arc::new(limiter),
            passwords: Arc::new(passwords),
            approval_deadlines: Arc::new(Notify::new()),
            dispatch: Arc::new(Notify::new()),
            schedules_changed: Arc::new(Notify::new()),
            mail_queued: Arc::new(Notify::new()),
            node_id: Arc::from(node_id),
            events: Arc::new(EventHub::new()),
            runs: Arc::new(RunRegistry::new(lease)),
            run_slots: Arc::new(Semaphore::new(slots)),
            handshakes: Arc::new(Semaphore::new(handshakes)),
            streams: Arc::default(),
        }
    }
}

impl AppState {
    /// Moves the clock forward (see `clock`) and wakes every loop that waits for a time:
    /// the dispatcher, the approval expiry and the schedules.
    pub fn advance_clock(&self, by: std::time::Duration) {
        crate::clock::advance(by);
        self.dispatch.notify_one();
        self.approval_deadlines.notify_one();
        self.schedules_changed.notify_one();
    }
}

/// Live streams one user may hold open at once on one instance.
pub const MAX_STREAMS_PER_USER: usize = 32;

/// Counts the live event streams each user holds open. Each one reads the database about
/// three times a second while it waits; measured on two cores, 1,500 streams held by one
/// viewer took a whole core and slowed every other answer tenfold.
#[derive(Default)]
pub struct StreamCounts {
    open: Mutex<HashMap<i64, usize>>,
}

impl StreamCounts {
    /// One more stream for `user_id`, counted until the guard is dropped; `None` when the
    /// user already holds [`MAX_STREAMS_PER_USER`].
    pub fn open(self: &Arc<Self>, user_id: i64) -> Option<StreamGuard> {
        let mut open = self.open.lock().expect("stream counts lock");
        let n = open.entry(user_id).or_insert(0);
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(StreamGuard { counts: self.clone(), user_id })
    }
}

/// One open stream; dropping it (the stream ended or its client went away) frees its place.
pub struct StreamGuard {
    counts: Arc<StreamCounts>,
    user_id: i64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().expect("stream counts lock");
        if let Some(n) = open.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

/// Announces "task N has new events" to live streams on this instance.
pub struct EventHub {
    tx: broadcast::Sender<i64>,
}

impl EventHub {
    fn new() -> Self {
        EventHub { tx: broadcast::channel(4096).0 }
    }

    pub fn notify(&self, task_id: i64) {
        let _ = self.tx.send(task_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.tx.subscribe()
    }
}
