//! What every request handler and background loop shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch, Notify, Semaphore};

use crate::accounts::limiter::LoginLimiter;
use crate::accounts::passwords::{self, Passwords};
use crate::crypto::Keys;
use crate::settings::Settings;
use crate::store::Db;

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
            runs: Arc::new(RunRegistry::default()),
            run_slots: Arc::new(Semaphore::new(slots)),
            handshakes: Arc::new(Semaphore::new(handshakes)),
            streams: Arc::default(),
        }
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

struct RunHandle {
    abort: watch::Sender<bool>,
    release: Arc<Notify>,
    task: Option<tokio::task::AbortHandle>,
}

/// The runs this instance carries, with the levers to abort them and release their
/// manual steps at once (other instances find out through the database).
#[derive(Default)]
pub struct RunRegistry {
    runs: Mutex<HashMap<i64, RunHandle>>,
}

impl RunRegistry {
    /// Registers a run (or returns the levers of one already registered, as a run is
    /// registered when claimed, before the executor picks it up).
    pub fn register(&self, task_id: i64) -> (watch::Receiver<bool>, Arc<Notify>) {
        let mut runs = self.runs.lock().expect("registry lock");
        let handle = runs.entry(task_id).or_insert_with(|| RunHandle {
            abort: watch::channel(false).0,
            release: Arc::new(Notify::new()),
            task: None,
        });
        (handle.abort.subscribe(), handle.release.clone())
    }

    /// Starts the executor for a registered run and keeps its handle for `stop_all`.
    pub fn spawn(&self, task_id: i64, run: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(run).abort_handle();
        let mut runs = self.runs.lock().expect("registry lock");
        match runs.get_mut(&task_id) {
            Some(h) => h.task = Some(handle),
            None => handle.abort(),
        }
    }

    /// Drops every run of this instance where it stands, as a crash would: the next start
    /// marks them interrupted, with their logs so far.
    pub fn stop_all(&self) {
        for (_, h) in self.runs.lock().expect("registry lock").drain() {
            if let Some(t) = h.task {
                t.abort();
            }
        }
    }

    pub fn unregister(&self, task_id: i64) {
        self.runs.lock().expect("registry lock").remove(&task_id);
    }

    pub fn abort(&self, task_id: i64) {
        if let Some(h) = self.runs.lock().expect("registry lock").get(&task_id) {
            let _ = h.abort.send(true);
        }
    }

    pub fn release(&self, task_id: i64) {
        if let Some(h) = self.runs.lock().expect("registry lock").get(&task_id) {
            h.release.notify_waiters();
        }
    }

    pub fn is_running_here(&self, task_id: i64) -> bool {
        self.runs.lock().expect("registry lock").contains_key(&task_id)
    }
}
