//! Run ownership. A run (one attempt of a task) belongs to the instance that claimed it,
//! for as long as that instance renews its lease. Every write of the run names its
//! [`Fence`] and the store refuses it once the task is no longer at that attempt for that
//! owner, so an instance that was frozen or cut off cannot overwrite what came after it.
//!
//! Timing, for a lease of `L`: the owner renews every `L/3`. It counts its lease from
//! *before* each renewal was sent, on its own monotonic clock (which keeps counting while
//! the process is frozen), so when that count passes `L` it stops starting steps at once
//! and kills what its runs have started, whatever the database says. Other instances take
//! a run over only when the lease the owner wrote (`lease_until`, its wall clock) is older
//! than a grace period ([`Lease::grace`]), by which time the owner has stopped.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

pub use crate::store::runs::Fence;

/// How often a run waiting for its lease's renewal looks again.
const HOLD_CHECK: Duration = Duration::from_millis(100);

/// The lease's length and what follows from it.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub length: Duration,
}

impl Lease {
    pub fn new(length: Duration) -> Lease {
        Lease { length: length.max(Duration::from_secs(1)) }
    }

    pub fn ms(&self) -> i64 {
        self.length.as_millis() as i64
    }

    /// How often the owner renews.
    pub fn renew_every(&self) -> Duration {
        self.length / 3
    }

    /// How long after a lease's end others wait before taking its run over: the owner
    /// has stopped by then, and clocks may differ a little.
    pub fn grace(&self) -> Duration {
        (self.length / 2).max(Duration::from_secs(2))
    }
}

struct RunHandle {
    attempt: i64,
    abort: watch::Sender<bool>,
    release: Arc<Notify>,
    task: Option<tokio::task::AbortHandle>,
    /// The start of the lease's latest renewal (or of the claim), on this instance's clock.
    renewed: Instant,
    /// When the claim was committed: a renewal sent after it must find the run.
    committed: Option<Instant>,
    /// The lease ran out or the run was taken over: it starts nothing more, and its
    /// writes are refused.
    lost: bool,
    /// Its end is being written: a renewal that no longer finds it running (because it
    /// ended, in the same shared commit) does not take it for lost.
    ending: bool,
}

impl RunHandle {
    /// Marks the run lost and tells it to stop (`send_replace` keeps the signal while no
    /// executor listens yet: a run claimed and not yet started sees it when it starts).
    fn lose(&mut self) {
        self.lost = true;
        self.abort.send_replace(true);
    }
}

/// The runs this instance carries, with the levers to abort them and release their
/// manual steps at once (other instances find out through the database), and their leases.
pub struct RunRegistry {
    runs: Mutex<HashMap<i64, RunHandle>>,
    lease: Lease,
    fenced: AtomicU64,
}

impl RunRegistry {
    pub fn new(lease: Lease) -> RunRegistry {
        RunRegistry { runs: Mutex::default(), lease, fenced: AtomicU64::new(0) }
    }

    pub fn lease(&self) -> Lease {
        self.lease
    }

    /// Registers attempt `attempt` of a task, whose lease began at `leased` (taken before
    /// the claim's transaction began). A handle of an older attempt is lost and replaced.
    pub fn register(&self, task_id: i64, attempt: i64, leased: Instant) {
        let mut runs = self.runs.lock().expect("registry lock");
        if let Some(old) = runs.get_mut(&task_id) {
            if old.attempt == attempt {
                return;
            }
            old.lose();
        }
        runs.insert(
            task_id,
            RunHandle {
                attempt,
                abort: watch::channel(false).0,
                release: Arc::new(Notify::new()),
                task: None,
                renewed: leased,
                committed: None,
                lost: false,
                ending: false,
            },
        );
    }

    /// The claim of the registered attempt is committed.
    pub fn committed(&self, task_id: i64, attempt: i64) {
        if let Some(h) = self.runs.lock().expect("registry lock").get_mut(&task_id) {
            if h.attempt == attempt {
                h.committed = Some(Instant::now());
            }
        }
    }

    /// The abort signal and the release bell of a registered attempt; `None` when it is
    /// not registered (any more).
    pub fn levers(&self, task_id: i64, attempt: i64) -> Option<(watch::Receiver<bool>, Arc<Notify>)> {
        let runs = self.runs.lock().expect("registry lock");
        runs.get(&task_id).filter(|h| h.attempt == attempt).map(|h| (h.abort.subscribe(), h.release.clone()))
    }

    /// Starts the executor for a registered run and keeps its handle for `stop_all`.
    pub fn spawn(&self, task_id: i64, attempt: i64, run: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(run).abort_handle();
        let mut runs = self.runs.lock().expect("registry lock");
        match runs.get_mut(&task_id).filter(|h| h.attempt == attempt) {
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

    pub fn unregister(&self, task_id: i64, attempt: i64) {
        let mut runs = self.runs.lock().expect("registry lock");
        if runs.get(&task_id).is_some_and(|h| h.attempt == attempt) {
            runs.remove(&task_id);
        }
    }

    /// The run's end is being written (see `RunHandle::ending`).
    pub fn ending(&self, task_id: i64, attempt: i64) {
        if let Some(h) = self.runs.lock().expect("registry lock").get_mut(&task_id) {
            if h.attempt == attempt {
                h.ending = true;
            }
        }
    }

    /// Whether no run is registered.
    pub fn is_empty(&self) -> bool {
        self.runs.lock().expect("registry lock").is_empty()
    }

    pub fn abort(&self, task_id: i64) {
        if let Some(h) = self.runs.lock().expect("registry lock").get(&task_id) {
            h.abort.send_replace(true);
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

    /// True while this instance may start steps of the attempt: it is registered, not
    /// lost, and its lease has a sixth of its length left by this instance's own clock
    /// (a step is not started in the lease's last moments).
    pub fn holds(&self, task_id: i64, attempt: i64) -> bool {
        let mut runs = self.runs.lock().expect("registry lock");
        let Some(h) = runs.get_mut(&task_id).filter(|h| h.attempt == attempt) else { return false };
        if !h.lost && h.renewed.elapsed() >= self.lease.length {
            tracing::warn!(task = task_id, attempt, "the run's lease ran out: it starts no more steps");
            h.lose();
        }
        !h.lost && h.renewed.elapsed() < self.lease.length - self.lease.length / 6
    }

    /// Waits, while the lease is in its last sixth, for a renewal: true once the attempt
    /// holds it again (at once when it does), false when the lease ran out or the run was
    /// lost. A renewal that comes late (the database was slow) delays the next step; it
    /// does not stop the host.
    pub async fn hold(&self, task_id: i64, attempt: i64) -> bool {
        loop {
            if self.holds(task_id, attempt) {
                return true;
            }
            if self.lost(task_id, attempt) {
                return false;
            }
            tokio::time::sleep(HOLD_CHECK).await;
        }
    }

    /// True when the attempt is not this instance's any more: not registered, lost, or
    /// its lease ran out.
    pub fn lost(&self, task_id: i64, attempt: i64) -> bool {
        let runs = self.runs.lock().expect("registry lock");
        runs.get(&task_id)
            .filter(|h| h.attempt == attempt)
            .is_none_or(|h| h.lost || h.renewed.elapsed() >= self.lease.length)
    }

    /// A renewal sent at `sent` came back holding `held` (task id, attempt): those leases
    /// run from `sent`; a committed run missing from it was taken over and is lost.
    /// Returns the task ids lost.
    pub fn renewed(&self, held: &[(i64, i64)], sent: Instant) -> Vec<i64> {
        let held: HashSet<(i64, i64)> = held.iter().copied().collect();
        let mut lost = Vec::new();
        for (id, h) in self.runs.lock().expect("registry lock").iter_mut() {
            if h.lost {
                continue;
            }
            if held.contains(&(*id, h.attempt)) {
                h.renewed = h.renewed.max(sent);
            } else if !h.ending && h.committed.is_some_and(|c| c < sent) {
                h.lose();
                lost.push(*id);
            }
        }
        lost
    }

    /// The runs of `held` (renewed in the database under this instance's name) that it
    /// does not carry: their executor ended without ending them (its last write failed).
    /// A run is registered before its claim commits and unregistered after it ended, so
    /// one missing here is carried by nobody.
    pub fn strays(&self, held: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let runs = self.runs.lock().expect("registry lock");
        held.iter().copied().filter(|(id, attempt)| runs.get(id).is_none_or(|h| h.attempt != *attempt)).collect()
    }

    /// Loses the runs whose lease ran out (the renewals failed). Returns their task ids.
    pub fn expire(&self) -> Vec<i64> {
        let mut lost = Vec::new();
        for (id, h) in self.runs.lock().expect("registry lock").iter_mut() {
            if !h.lost && h.renewed.elapsed() >= self.lease.length {
                h.lose();
                lost.push(*id);
            }
        }
        lost
    }

    /// Counts a write refused because its run was no longer this instance's; returns the
    /// count so far.
    pub fn count_fenced(&self, task_id: i64, attempt: i64) -> u64 {
        let n = self.fenced.fetch_add(1, Ordering::Relaxed) + 1;
        let mut runs = self.runs.lock().expect("registry lock");
        if let Some(h) = runs.get_mut(&task_id).filter(|h| h.attempt == attempt) {
            if !h.lost {
                h.lose();
            }
        }
        n
    }

    /// Writes refused so far because their run was no longer this instance's.
    pub fn fenced_writes(&self) -> u64 {
        self.fenced.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> RunRegistry {
        RunRegistry::new(Lease::new(Duration::from_secs(30)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_holds_its_lease_until_it_runs_out_by_the_local_clock() {
        let r = registry();
        r.register(1, 1, Instant::now());
        r.committed(1, 1);
        let (abort, _) = r.levers(1, 1).unwrap();
        tokio::time::advance(Duration::from_secs(24)).await;
        assert!(r.holds(1, 1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!r.holds(1, 1), "no step starts in the lease's last sixth");
        assert!(!r.lost(1, 1) && !*abort.borrow(), "but the run is not lost yet");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!r.holds(1, 1) && r.lost(1, 1), "31 s after the last renewal the lease is over");
        assert!(*abort.borrow(), "a lost run is told to stop (and kill what it started)");
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_waits_in_the_leases_last_sixth_for_a_late_renewal() {
        let r = std::sync::Arc::new(registry());
        r.register(1, 1, Instant::now());
        r.committed(1, 1);
        tokio::time::advance(Duration::from_secs(26)).await;
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { r.hold(1, 1).await }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!waiting.is_finished(), "the step waits while the renewal is late");
        r.renewed(&[(1, 1)], Instant::now());
        assert!(waiting.await.unwrap(), "the renewal came: the step goes on");
        assert!(!r.lost(1, 1));

        r.register(2, 1, Instant::now());
        r.committed(2, 1);
        tokio::time::advance(Duration::from_secs(26)).await;
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { r.hold(2, 1).await }
        });
        assert!(!waiting.await.unwrap(), "no renewal before the lease ran out: the step is not started");
        assert!(r.lost(2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_extends_held_runs_and_loses_taken_over_ones() {
        let r = registry();
        r.register(1, 1, Instant::now());
        r.committed(1, 1);
        r.register(2, 3, Instant::now());
        r.committed(2, 3);
        tokio::time::advance(Duration::from_secs(20)).await;
        let sent = Instant::now();
        assert_eq!(r.renewed(&[(1, 1)], sent), vec![2]);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(r.holds(1, 1), "renewed 20 s ago");
        assert!(!r.holds(2, 3), "missing from the renewal: taken over");
    }

    #[test]
    fn an_abort_before_the_run_starts_is_seen_when_it_starts() {
        let r = registry();
        r.register(1, 1, Instant::now());
        r.committed(1, 1);
        // Claimed, waiting for the rest of its burst to be claimed: nobody listens yet.
        r.abort(1);
        let (abort, _) = r.levers(1, 1).expect("registered");
        assert!(*abort.borrow(), "the abort was kept for the run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_whose_end_is_being_written_is_not_lost_to_a_renewal_that_no_longer_finds_it() {
        let r = registry();
        r.register(1, 1, Instant::now());
        r.committed(1, 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        r.ending(1, 1);
        // Its end shares the renewal's commit: the renewal finds it no longer running.
        assert!(r.renewed(&[], Instant::now()).is_empty());
        assert!(!r.lost(1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_not_yet_committed_is_not_lost_to_a_renewal_that_missed_it() {
        let r = registry();
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        r.register(1, 1, Instant::now());
        assert!(r.renewed(&[], sent).is_empty());
        r.committed(1, 1);
        assert!(r.renewed(&[], sent).is_empty(), "committed after the renewal was sent");
        assert!(r.holds(1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_attempt_replaces_the_old_one_which_is_told_to_stop() {
        let r = registry();
        r.register(1, 1, Instant::now());
        let (old, _) = r.levers(1, 1).unwrap();
        r.register(1, 2, Instant::now());
        assert!(*old.borrow());
        assert!(r.levers(1, 1).is_none());
        assert!(r.holds(1, 2));
        r.unregister(1, 1);
        assert!(r.is_running_here(1), "the old attempt's end does not remove the new one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_write_loses_the_run_and_is_counted() {
        let r = registry();
        r.register(7, 1, Instant::now());
        assert_eq!(r.count_fenced(7, 1), 1);
        assert!(!r.holds(7, 1));
        assert_eq!(r.fenced_writes(), 1);
    }
}
