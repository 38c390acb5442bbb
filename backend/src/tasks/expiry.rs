//! Turns approval requests that nobody answered in time into `expired` tasks.

use std::time::Duration;

use api_types::TaskStatus;
use serde_json::json;
use tokio::sync::watch;

use crate::audit;
use crate::error::ServiceResult;
use crate::state::AppState;
use crate::store::{self, now_ms};

/// Expires every overdue task; returns how many it expired.
pub async fn expire_overdue(state: &AppState) -> ServiceResult<usize> {
    let mut expired = 0;
    for id in store::tasks::overdue_approvals(&state.db, now_ms()).await? {
        let mut tx = state.db.begin_write().await?;
        // Someone may have approved it a moment ago; then the transition does nothing.
        if store::tasks::transition(&mut tx, id, TaskStatus::New, TaskStatus::Expired, None).await? {
            audit::record_as(&mut tx, "system", "", "task.expire", "task", id, json!({"reason": "approval timeout"}))
                .await?;
            tx.commit().await?;
            tracing::info!(task = id, "approval request expired");
            expired += 1;
        }
    }
    Ok(expired)
}

/// Sleeps until the earliest deadline (at most a minute, so that deadlines set by other
/// instances are seen), woken early when a new deadline is set here.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = expire_overdue(&state).await {
            tracing::warn!(error = %e, "approval expiry sweep failed");
        }
        let wait = match store::tasks::next_approval_deadline(&state.db).await {
            // A deadline already past means expiring it just failed: retry calmly.
            Ok(Some(t)) => Duration::from_millis((t - now_ms()).clamp(250, 60_000) as u64),
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.approval_deadlines.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
