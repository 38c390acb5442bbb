//! What a caller may do with a task now. The actions check the same rules, through the
//! same functions, so an answer (and the buttons the UI draws from it) never offers what
//! the server would refuse for who the caller is or for where the task stands.

use api_types::{Scope, TaskAction, TaskStatus};

use super::{decisions, runs};
use crate::accounts::Principal;
use crate::store::tasks::TaskRow;

/// Submitters, approvers and admins may cancel a task that has not started.
pub fn may_cancel(who: &Principal, row: &TaskRow) -> bool {
    who.can(Scope::TaskSubmit) && (row.submitter == who.username || who.can(Scope::TaskApprove))
}

/// The submitter and admins may change a task that has not started.
pub fn may_edit(who: &Principal, row: &TaskRow) -> bool {
    who.can(Scope::TaskSubmit) && (row.submitter == who.username || who.is_admin())
}

/// Whether `who` may approve: a decider, and (unless self-approval is on) neither the
/// submitter nor anyone who changed the task.
pub fn may_approve(who: &Principal, row: &TaskRow, editors: &[String], self_approval: bool) -> bool {
    decisions::may_decide(who, row).is_ok()
        && (self_approval || (row.submitter != who.username && !editors.contains(&who.username)))
}

/// What the run allows beyond the task's status: a pair that a skip can pass over, a
/// pair waiting at a manual step that a release can let go.
pub struct RunState {
    pub skippable: bool,
    pub releasable: bool,
}

pub fn allowed(
    who: &Principal,
    row: &TaskRow,
    editors: &[String],
    self_approval: bool,
    run: &RunState,
) -> Vec<TaskAction> {
    let status = row.status;
    let acts = runs::may_act(who, row, "act on").is_ok();
    let mut out = Vec::new();
    if status == TaskStatus::New {
        if may_approve(who, row, editors, self_approval) {
            out.push(TaskAction::Approve);
        }
        if decisions::may_decide(who, row).is_ok() {
            out.push(TaskAction::Reject);
        }
    }
    if status.is_waiting() && may_cancel(who, row) {
        out.push(TaskAction::Cancel);
    }
    if status.is_waiting() && may_edit(who, row) {
        out.push(TaskAction::Edit);
    }
    if acts && status == TaskStatus::Running {
        out.push(TaskAction::Abort);
        if run.releasable {
            out.push(TaskAction::Release);
        }
    }
    if acts && status.can_redo() {
        out.push(TaskAction::Redo);
    }
    if acts && run.skippable {
        out.push(TaskAction::Skip);
    }
    out
}
