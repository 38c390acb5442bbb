//! Leases and runs whose instance stopped. While it lives an instance renews the leases
//! of its runs (see `task::lease`); when it cannot, its runs stop themselves. Runs whose
//! lease ended a grace period ago are taken over: marked `interrupted` (or `aborted`, when
//! an abort was asked) with their logs so far, and what their steps started on the hosts
//! is killed through new connections (claimed, and swept again if the instance killing
//! them stopped). At start an instance takes back its own runs.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit;
use crate::error::ServiceResult;
use crate::executor::reap;
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::runs::{self, PairRow};

/// What a taken-over run's unfinished pairs say.
const INTERRUPTED: &str = "interrupted: the server running this step stopped";
const ABORTED: &str = "aborted: the server running this step had stopped";

/// A run taken over, whose steps' processes must now be killed.
pub struct TakenOver {
    pub status: api_types::TaskStatus,
    task_id: i64,
    attempt: i64,
    owned_here: bool,
}

impl TakenOver {
    /// Kills what the run's steps were running (the kills it can claim), and records what
    /// was seen.
    pub async fn reap(self, state: &AppState) {
        match runs::claim_run_reaps(&state.db, self.task_id, self.attempt).await {
            Ok(pairs) => reap::reap_pairs(state, pairs, self.owned_here).await,
            Err(e) => {
                tracing::warn!(task = self.task_id, error = %e, "claiming the kills of a taken-over run failed; the sweep tries again")
            }
        }
    }
}

/// Takes over attempt `attempt` of task `task_id` if its lease ended before
/// `stale_before`, or, with `own` (this instance's node id, at its start), if it was this
/// instance's. `None` when the run was not there to take (finished, renewed, or taken by
/// another instance).
pub async fn take_over(
    state: &AppState,
    task_id: i64,
    attempt: i64,
    own: Option<&str>,
    stale_before: i64,
) -> ServiceResult<Option<TakenOver>> {
    let Some(owner) = runs::run_owner(&state.db, task_id).await?.filter(|o| o.attempt == attempt) else {
        return Ok(None);
    };
    let message = if runs::abort_requested(&state.db, task_id).await? { ABORTED } else { INTERRUPTED };
    let mut tx = state.db.begin_write().await?;
    let Some((status, pairs)) = runs::take_over(&mut tx, task_id, attempt, own, stale_before, message).await? else {
        return Ok(None);
    };
    audit::record_as(
        &mut tx,
        "system",
        "",
        "task.interrupt",
        "task",
        task_id,
        json!({"attempt": attempt, "owner": owner.claimed_by, "status": status.as_str()}),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(task = task_id, attempt, owner = ?owner.claimed_by, status = status.as_str(), "run taken over: its server stopped");
    state.events.notify(task_id);
    let owned_here = owner.claimed_by.as_deref() == Some(&*state.node_id);
    // Steps that started without recording their process group cannot be killed: say so.
    for p in pairs.into_iter().filter(|p| p.started_at.is_some() && p.pgid.is_none()) {
        let p = PairRow { kill_confirmed: Some(0), ..p };
        let line = "its process group was never recorded, so it could not be killed";
        let p = PairRow { message: format!("{}; {line}", p.message), ..p };
        if let Err(e) = runs::record_reaped_pair(&state.db, &p, line).await {
            tracing::warn!(task = task_id, error = %e, "recording an unkillable step failed");
        }
    }
    Ok(Some(TakenOver { status, task_id, attempt, owned_here }))
}

/// Takes over every run whose instance stopped, and starts killing what their steps run
/// at once, one run at a time as each is taken. `at_start`: this instance's own runs
/// from before its start are taken too. Returns the task ids taken.
pub async fn interrupt_orphans(state: &AppState, at_start: bool) -> ServiceResult<Vec<i64>> {
    let grace = state.runs.lease().grace().as_millis() as i64;
    let stale_before = now_ms() - grace;
    let own = at_start.then_some(&*state.node_id);
    let mut done = Vec::new();
    for (task_id, attempt) in runs::orphaned_runs(&state.db, own, stale_before).await? {
        if state.runs.is_running_here(task_id) {
            continue;
        }
        if let Some(taken) = take_over(state, task_id, attempt, own, stale_before).await? {
            let state = state.clone();
            tokio::spawn(async move { taken.reap(&state).await });
            done.push(task_id);
        }
    }
    Ok(done)
}

/// Renews this instance's leases, stops its runs whose lease ran out or was taken, and
/// takes over other instances' silent runs.
pub async fn run(state: AppState, shutdown: watch::Receiver<bool>) {
    tokio::join!(
        watchdog(state.clone(), shutdown.clone()),
        probes(state.clone(), shutdown.clone()),
        renewals(state.clone(), shutdown.clone()),
        takeovers(state.clone(), shutdown.clone()),
        sweeps(state, shutdown)
    );
}

/// Stops the runs whose lease ran out by this instance's clock. It never waits on the
/// database, so a database that hangs (cut off) cannot hold it up.
async fn watchdog(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        for id in state.runs.expire() {
            tracing::error!(task = id, "the run's lease ran out (renewals failed): stopping it and killing its steps");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Kills left undone: claimed by no one (the instance that took the run over stopped
/// first), or claimed long ago by an instance that stopped while killing.
async fn sweeps(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let lease = state.runs.lease();
    loop {
        // A taker claims its kills at once; give it two leases before calling them left.
        match runs::claim_left_reaps(&state.db, now_ms() - 2 * lease.ms(), 100).await {
            Ok(pairs) if !pairs.is_empty() => {
                tracing::warn!(pairs = pairs.len(), "killing the steps of taken-over runs that nobody killed");
                reap::reap_pairs(&state, pairs, false).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "looking for unkilled steps failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(lease.renew_every().max(Duration::from_secs(1))) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Probes the database's ability to write, for `/healthz`.
async fn probes(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = state.db.probe_write(&state.node_id).await {
            tracing::warn!(error = %e, "the write probe failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Renews the leases of this instance's runs, alone in its loop so that nothing else
/// (a slow scan) delays a renewal.
async fn renewals(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let lease = state.runs.lease();
    loop {
        let next = Instant::now() + lease.renew_every();
        renew(&state).await;
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Ends a run of this instance's as a takeover would (`interrupted`, its unfinished pairs
/// aborted, their steps killed), whatever its lease; nothing when another has it already.
/// A failure is logged: the next renewal finds the run again.
pub async fn take_over_own(state: &AppState, task_id: i64, attempt: i64) {
    match take_over(state, task_id, attempt, Some(&state.node_id), 0).await {
        Ok(Some(taken)) => taken.reap(state).await,
        Ok(None) => tracing::info!(task = task_id, attempt, "the run was ended elsewhere already: nothing to end here"),
        Err(e) => tracing::warn!(task = task_id, error = %e, "taking over a run of this instance failed"),
    }
}

/// Takes over the runs of instances that stopped renewing.
async fn takeovers(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let lease = state.runs.lease();
    loop {
        let next = Instant::now() + lease.renew_every();
        match tokio::time::timeout(lease.renew_every(), interrupt_orphans(&state, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "recovering silent runs failed"),
            Err(_) => tracing::warn!("recovering silent runs took too long; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// How often leases are checked against the local clock.
const TICK: Duration = Duration::from_millis(250);
/// How often the database's ability to write is probed (see `/healthz`).
const PROBE_EVERY: Duration = Duration::from_secs(5);

async fn renew(state: &AppState) {
    let lease = state.runs.lease();
    let sent = Instant::now();
    let renewing = runs::renew_leases(&state.db, &state.node_id, now_ms(), lease.ms());
    match tokio::time::timeout(lease.renew_every(), renewing).await {
        Ok(Ok(held)) => {
            for id in state.runs.renewed(&held, sent) {
                tracing::error!(
                    task = id,
                    "the run was taken over by another instance: stopping it and killing its steps"
                );
            }
            // Renewed under this instance's name but carried by none of its executors:
            // ended here as a takeover would, rather than renewed for ever.
            for (task_id, attempt) in state.runs.strays(&held) {
                tracing::warn!(task = task_id, attempt, "a run of this instance that nothing carries: taking it over");
                let state = state.clone();
                tokio::spawn(async move { take_over_own(&state, task_id, attempt).await });
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "renewing the run leases failed"),
        Err(_) => tracing::warn!("renewing the run leases took too long"),
    }
}
