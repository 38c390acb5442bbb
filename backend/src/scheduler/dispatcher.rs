//! The database says what is due. One loop sleeps until the earliest due task (woken
//! early when a task becomes ready here), claims due tasks one transaction at a time,
//! and hands each to the executor. A claim is a compare-and-set (and on PostgreSQL a
//! `SKIP LOCKED` row lock), so every task starts exactly once across instances.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::audit;
use crate::error::ServiceResult;
use crate::executor::{self, plan};
use crate::state::AppState;
use crate::store::{self, now_ms, runs};
use crate::task::model::Task;

/// Longest sleep: tasks made ready on other instances are found within this time.
const MAX_SLEEP: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        loop {
            match claim_next(&state).await {
                Ok(Some((task_id, attempt))) => {
                    state.runs.spawn(task_id, attempt, executor::run_attempt(state.clone(), task_id, attempt));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming due tasks failed");
                    break;
                }
            }
        }
        let wait = match runs::next_due(&state.db).await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(50, MAX_SLEEP.as_millis() as i64) as u64),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.dispatch.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims one due task and creates the pairs of its attempt, in one transaction.
pub async fn claim_next(state: &AppState) -> ServiceResult<Option<(i64, i64)>> {
    let mut tx = state.db.begin_write().await?;
    // The lease is counted, on this instance's clock, from before it is written (after
    // the wait for the write lock, which may be long under load).
    let leased = tokio::time::Instant::now();
    let lease_ms = state.runs.lease().ms();
    let Some((task_id, attempt)) =
        runs::claim_due(&mut tx, state.db.dialect, &state.node_id, now_ms(), lease_ms).await?
    else {
        return Ok(None);
    };
    let task = Task::decode(store::tasks::get_in(&mut tx, task_id).await?)?;
    let pairs = plan::all_pairs(&task.snapshot, &task.hosts);
    plan::record_attempt(&mut tx, task_id, attempt, &task.snapshot, &pairs).await?;
    audit::record_as(
        &mut tx,
        "system",
        "",
        "task.start",
        "task",
        task_id,
        json!({"attempt": attempt, "node": &*state.node_id}),
    )
    .await?;
    // Registered before the commit, so that the orphan reaper never sees it unclaimed.
    state.runs.register(task_id, attempt, leased);
    if let Err(e) = tx.commit().await {
        state.runs.unregister(task_id, attempt);
        return Err(e.into());
    }
    state.runs.committed(task_id, attempt);
    tracing::info!(task = task_id, attempt, pairs = pairs.len(), "task started");
    state.events.notify(task_id);
    Ok(Some((task_id, attempt)))
}
