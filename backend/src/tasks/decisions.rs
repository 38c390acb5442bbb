//! Approve, reject, cancel: the moves of a task before it runs, and who may make them.

use api_types::{validate, Message, Scope, Task, TaskStatus};
use serde_json::json;

use super::service::{current_digest, load, snapshot_of};
use crate::accounts::Principal;
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::policy;
use crate::state::AppState;
use crate::store::{self, tasks::TaskRow};

/// Approvers and admins may decide; so may members of the template's approver group
/// (with a login session or a token holding `task:approve`).
pub(crate) fn may_decide(who: &Principal, row: &TaskRow) -> ServiceResult<()> {
    if who.can(Scope::TaskApprove) {
        return Ok(());
    }
    let group = snapshot_of(row)?.approver_group;
    let in_group = group.as_ref().is_some_and(|g| who.groups.contains(g));
    let token_allows = who.scopes.as_ref().is_none_or(|s| s.contains(&Scope::TaskApprove));
    if in_group && token_allows {
        return Ok(());
    }
    match group {
        Some(g) => Err(ServiceError::Forbidden(
            Message::new("approving task {id} needs the approver role or membership of group {group}")
                .arg("id", row.id)
                .arg("group", format!("{g:?}")),
        )),
        None => who.require(Scope::TaskApprove),
    }
}

fn invalid(row: &TaskRow, action: &'static str) -> ServiceError {
    ServiceError::InvalidTransition { id: row.id, action, from: row.status }
}

async fn decide(
    state: &AppState,
    who: &Principal,
    id: i64,
    approve: bool,
    comment: Option<String>,
) -> ServiceResult<Task> {
    // `may_decide` is the permission check: a token holding only task:approve may decide.
    let action = if approve { "approve" } else { "reject" };
    let comment = comment.unwrap_or_default();
    validate::text("comment", &comment, 4000)?;
    let row = store::tasks::get(&state.db, id).await.or_not_found("task", id)?;
    may_decide(who, &row)?;
    if row.status != TaskStatus::New {
        return Err(invalid(&row, action));
    }
    let self_approval = policy::get(state).await?.allow_self_approval;
    if approve && row.submitter == who.username && !self_approval {
        return Err(ServiceError::Forbidden(
            Message::new("{user} submitted task {id}; another person must approve it")
                .arg("user", &who.username)
                .arg("id", id),
        ));
    }
    let digest = current_digest(state, &row)?;
    let (decision, to) = if approve { ("approved", TaskStatus::Ready) } else { ("rejected", TaskStatus::Rejected) };
    let mut tx = state.db.begin_write().await?;
    // Read inside the write transaction: an edit committed meanwhile either shows here or
    // makes the decision below find the task changed.
    if approve && !self_approval && store::tasks::editors(&mut tx, id).await?.contains(&who.username) {
        return Err(ServiceError::Forbidden(
            Message::new("{user} changed task {id} after it was submitted; another person must approve it")
                .arg("user", &who.username)
                .arg("id", id),
        ));
    }
    let approval_id = store::tasks::insert_approval(&mut tx, id, decision, &who.username, &comment, &digest).await?;
    if !store::tasks::decide(&mut tx, id, to, approval_id, row.updated_at).await? {
        let now = store::tasks::get_in(&mut tx, id).await?;
        drop(tx);
        if now.status == TaskStatus::New {
            return Err(ServiceError::Conflict(
                Message::new("task {id} was changed while you decided; read it again and decide on what it is now")
                    .arg("id", id),
            ));
        }
        return Err(invalid(&now, action));
    }
    let shown = super::inputs::shown_digest(&state.keys, id, &digest);
    audit::record(&mut tx, who, &format!("task.{action}"), "task", id, json!({"comment": comment, "digest": shown}))
        .await?;
    tx.commit().await?;
    if approve {
        state.dispatch.notify_one();
    }
    load(state, who, id).await
}

pub async fn approve(state: &AppState, who: &Principal, id: i64, comment: Option<String>) -> ServiceResult<Task> {
    decide(state, who, id, true, comment).await
}

pub async fn reject(state: &AppState, who: &Principal, id: i64, comment: Option<String>) -> ServiceResult<Task> {
    decide(state, who, id, false, comment).await
}

/// The submitter, approvers and admins may cancel a task that has not started.
pub async fn cancel(state: &AppState, who: &Principal, id: i64, comment: Option<String>) -> ServiceResult<Task> {
    who.require(Scope::TaskSubmit)?;
    let comment = comment.unwrap_or_default();
    validate::text("comment", &comment, 4000)?;
    let row = store::tasks::get(&state.db, id).await.or_not_found("task", id)?;
    if !super::actions::may_cancel(who, &row) {
        return Err(ServiceError::Forbidden("only the submitter, an approver or an admin may cancel a task".into()));
    }
    let from = row.status;
    if !matches!(from, TaskStatus::New | TaskStatus::Ready) {
        return Err(invalid(&row, "cancel"));
    }
    let mut tx = state.db.begin_write().await?;
    if !store::tasks::transition(&mut tx, id, from, TaskStatus::Cancelled, None).await? {
        let now = store::tasks::get_in(&mut tx, id).await?;
        drop(tx);
        return Err(invalid(&now, "cancel"));
    }
    audit::record(&mut tx, who, "task.cancel", "task", id, json!({"comment": comment, "from": from.as_str()})).await?;
    tx.commit().await?;
    load(state, who, id).await
}
