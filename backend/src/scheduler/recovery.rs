//! Runs whose instance stopped: marked `interrupted` (with their logs so far) so that
//! they can be redone. At start an instance takes back its own runs; while it lives it
//! keeps a heartbeat on its runs and picks up those of instances that fell silent.

use std::time::Duration;

use api_types::TaskStatus;
use serde_json::json;
use tokio::sync::watch;

use crate::audit;
use crate::error::ServiceResult;
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::runs;

const HEARTBEAT: Duration = Duration::from_secs(5);
/// A run whose heartbeat is older than this has lost its instance.
const STALE_AFTER_MS: i64 = 60_000;

/// Marks the orphaned runs interrupted; returns their task ids.
pub async fn interrupt_orphans(state: &AppState) -> ServiceResult<Vec<i64>> {
    let mut done = Vec::new();
    for (task_id, attempt) in runs::orphaned_runs(&state.db, &state.node_id, now_ms() - STALE_AFTER_MS).await? {
        if state.runs.is_running_here(task_id) {
            continue;
        }
        let mut tx = state.db.begin_write().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE task_pairs SET status = 'aborted', finished_at = $1,
                message = 'interrupted: the server stopped during this step'
             WHERE task_id = $2 AND attempt = $3 AND status IN ('running', 'waiting')",
        )
        .bind(now)
        .bind(task_id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
        let changed = sqlx::query(
            "UPDATE tasks SET status = 'interrupted', finished_at = $1, claimed_by = NULL, updated_at = $1
             WHERE id = $2 AND status = 'running'",
        )
        .bind(now)
        .bind(task_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            runs::insert_task_event(&mut tx, task_id, attempt, TaskStatus::Interrupted.as_str()).await?;
            audit::record_as(&mut tx, "system", "", "task.interrupt", "task", task_id, json!({"attempt": attempt}))
                .await?;
            tx.commit().await?;
            tracing::warn!(task = task_id, attempt, "run interrupted: its server stopped; it can be redone");
            state.events.notify(task_id);
            done.push(task_id);
        }
    }
    Ok(done)
}

/// Heartbeat for this instance's runs, and recovery of other instances' silent runs.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut beats = 0u64;
    loop {
        if let Err(e) = runs::heartbeat(&state.db, &state.node_id, now_ms()).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        if let Err(e) = state.db.probe_write(&state.node_id).await {
            tracing::warn!(error = %e, "the write probe failed");
        }
        beats += 1;
        if beats.is_multiple_of(6) {
            if let Err(e) = interrupt_orphans(&state).await {
                tracing::warn!(error = %e, "recovering silent runs failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = shutdown.changed() => return,
        }
    }
}
