//! Submitting, viewing, listing and editing tasks.

use std::collections::BTreeMap;

use api_types::{
    validate, Approval, Message, Schedule, Scope, StatusCount, Task, TaskPage, TaskStatus, TaskSummary, TaskUpdate,
};
use serde_json::json;

use super::inputs::{self, check_args, check_hosts, parse_exec_time};
use crate::accounts::Principal;
use crate::audit;
use crate::catalogue::templates::{self, Snapshot};
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::policy;
use crate::state::AppState;
use crate::store::tasks::{TaskFilter, TaskRow};
use crate::store::{self, from_json, now_ms, rfc3339, to_json};

/// A task as any front door (API, CODO, schedule, GitLab) hands it in.
#[derive(Debug, Clone)]
pub struct Submission {
    pub name: Option<String>,
    pub template_id: i64,
    pub args: BTreeMap<String, String>,
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    pub exec_time: Option<String>,
    pub executor: Option<String>,
    pub details: Option<String>,
    pub associated_users: Vec<String>,
    pub concurrency: Option<i64>,
    /// Argument keys an outside party chose (a git pusher): see `inputs::check_external_args`.
    pub external_args: Vec<String>,
    pub source: &'static str,
}

impl Submission {
    pub fn from_api(t: api_types::TaskSubmit) -> Self {
        Submission {
            name: t.name,
            template_id: t.template_id,
            args: t.args,
            hosts: t.hosts,
            schedule: t.schedule,
            exec_time: t.exec_time,
            executor: t.executor,
            details: t.details,
            associated_users: t.associated_users,
            concurrency: t.concurrency,
            external_args: t.external_args,
            source: "api",
        }
    }
}

pub const DEFAULT_CONCURRENCY: i64 = 50;

/// The longest text search (`q`) of the task list, in characters.
pub const SEARCH_MAX_CHARS: usize = 200;

fn check_concurrency(c: i64) -> ServiceResult<i64> {
    if (1..=1000).contains(&c) {
        Ok(c)
    } else {
        Err(ServiceError::validation("concurrency", "must be between 1 and 1000"))
    }
}

fn check_exec_time(state: &AppState, text: Option<&str>) -> ServiceResult<i64> {
    let now = now_ms();
    let t = match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_exec_time("exec_time", t, state.settings.timezone)?,
        None => return Ok(now),
    };
    if t > now + 10 * 365 * 86_400_000 {
        return Err(ServiceError::validation("exec_time", "must be within the next ten years"));
    }
    Ok(t)
}

/// When a ready task starts: at `exec_time`; but a template with `timed` steps starts at
/// once and holds only those steps until `exec_time` (as CODO does).
pub(crate) fn due_at(snapshot: &Snapshot, exec_time: i64) -> i64 {
    if snapshot.steps.iter().any(|s| s.trigger == api_types::Trigger::Timed) {
        now_ms().min(exec_time)
    } else {
        exec_time
    }
}

/// When an approval request made now expires: the template's timeout, else the policy's.
async fn approval_deadline(state: &AppState, snapshot: &Snapshot) -> ServiceResult<Option<i64>> {
    let timeout = match snapshot.approval_timeout_secs {
        Some(t) => Some(t),
        None => policy::get(state).await?.approval_timeout_secs,
    };
    Ok(timeout.map(|t| now_ms() + t * 1000))
}

pub async fn submit(state: &AppState, who: &Principal, sub: Submission) -> ServiceResult<Task> {
    who.require(Scope::TaskSubmit)?;
    let snapshot = templates::snapshot_for(state, sub.template_id, sub.schedule).await?;
    // Checked against the snapshot the task keeps and runs, not an earlier read.
    inputs::check_external_args(&snapshot, &sub.external_args)?;
    let args = check_args(&state.keys, &snapshot, &sub.args)?;
    let hosts = check_hosts(&snapshot, &sub.hosts)?;
    inputs::check_logins(&hosts, &store::catalogue::list_hosts(&state.db).await?)?;
    let exec_time = check_exec_time(state, sub.exec_time.as_deref())?;
    let name = sub.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| snapshot.name.clone());
    validate::name("name", &name)?;
    let details = sub.details.unwrap_or_default();
    validate::text("details", &details, 4000)?;
    let executor = sub.executor.unwrap_or_default();
    validate::text("executor", &executor, 100)?;
    for (i, u) in sub.associated_users.iter().enumerate() {
        validate::name(&format!("associated_users[{i}]"), u)?;
    }
    let concurrency = check_concurrency(sub.concurrency.unwrap_or(DEFAULT_CONCURRENCY))?;
    let (status, deadline) = match sub.schedule {
        Schedule::Ready => (TaskStatus::Ready, None),
        Schedule::New => (TaskStatus::New, approval_deadline(state, &snapshot).await?),
    };
    let row = TaskRow {
        id: 0,
        name,
        template_id: snapshot.template_id,
        template_name: snapshot.name.clone(),
        template_snapshot: to_json(&snapshot),
        args: to_json(&inputs::seal_args(&state.keys, &snapshot, &args)),
        hosts: to_json(&hosts),
        submitter: who.username.clone(),
        executor,
        details,
        associated_users: to_json(&sub.associated_users),
        schedule: sub.schedule.as_str().to_string(),
        exec_time,
        status,
        concurrency,
        source: sub.source.to_string(),
        approval_id: None,
        approval_deadline: deadline,
        due_at: Some(due_at(&snapshot, exec_time)),
        attempt: 0,
        started_at: None,
        finished_at: None,
        created_at: 0,
        updated_at: 0,
    };
    let approvers = match sub.schedule {
        Schedule::New => crate::mail::approvers(state, snapshot.approver_group.as_deref(), &who.username).await,
        Schedule::Ready => vec![],
    };
    let mut tx = state.db.begin_write().await?;
    let id = store::tasks::insert(&mut tx, &row).await?;
    if sub.schedule == Schedule::New {
        crate::mail::approval_requested(&mut tx, state, id, &row, approvers).await?;
    }
    audit::record(
        &mut tx,
        who,
        "task.submit",
        "task",
        id,
        json!({"template_id": row.template_id, "schedule": row.schedule, "source": row.source}),
    )
    .await?;
    // The answer goes out only after this commit: an accepted task is durable.
    tx.commit().await?;
    if deadline.is_some() {
        state.approval_deadlines.notify_one();
    }
    // The dispatcher re-plans only for a task it may start: one awaiting approval is
    // woken for when it is approved.
    if row.status == TaskStatus::Ready {
        state.dispatch.notify_one();
    }
    state.mail_queued.notify_one();
    tracing::info!(task = id, submitter = ?who.username, status = row.status.as_str(), "task accepted");
    load(state, who, id).await
}

pub(crate) fn snapshot_of(row: &TaskRow) -> ServiceResult<Snapshot> {
    Ok(from_json("tasks.template_snapshot", &row.template_snapshot)?)
}

/// The digest of what this task would run now.
pub(crate) fn current_digest(state: &AppState, row: &TaskRow) -> ServiceResult<String> {
    Ok(crate::task::model::Task::decode(row.clone())?.digest(&state.keys)?)
}

async fn to_api(state: &AppState, who: &Principal, row: TaskRow) -> ServiceResult<Task> {
    // Decoded once: the snapshot, the hosts and the sealed arguments, and the digest.
    let decoded = crate::task::model::Task::decode(row.clone())?;
    let digest = decoded.digest(&state.keys)?;
    let crate::task::model::Task { snapshot, hosts, sealed_args: stored, .. } = decoded;
    let approval = match row.approval_id {
        Some(aid) => {
            let a = store::tasks::get_approval(&state.db, aid).await?;
            Some(Approval {
                decision: a.decision,
                by: a.actor,
                at: rfc3339(a.at),
                comment: a.comment,
                digest: inputs::shown_digest(&state.keys, row.id, &a.digest),
            })
        }
        None => None,
    };
    let editors = store::tasks::editors(&mut *state.db.pool.acquire().await?, row.id).await?;
    let latest = if row.attempt > 0 && !row.status.is_waiting() {
        store::runs::latest_pairs(&state.db, row.id).await?
    } else {
        vec![]
    };
    let manual = |p: &store::runs::PairRow| {
        snapshot.steps.get(p.step_index as usize).is_some_and(|s| s.trigger == api_types::Trigger::Manual)
    };
    let run = super::actions::RunState {
        skippable: latest.iter().any(|p| p.status.can_skip()),
        releasable: latest.iter().any(|p| p.status == api_types::PairStatus::Waiting && manual(p)),
    };
    let actions = super::actions::allowed(who, &row, &editors, policy::get(state).await?.allow_self_approval, &run);
    Ok(Task {
        id: row.id,
        digest: inputs::shown_digest(&state.keys, row.id, &digest),
        editors,
        status: row.status,
        schedule: Schedule::parse(&row.schedule).unwrap_or(Schedule::New),
        args: inputs::mask_args(&snapshot, &stored),
        hosts,
        associated_users: from_json("tasks.associated_users", &row.associated_users)?,
        actions,
        template_snapshot: Snapshot {
            params: snapshot.params.iter().cloned().map(crate::catalogue::aliases::masked).collect(),
            ..snapshot.clone()
        },
        name: row.name,
        template_id: row.template_id,
        template_name: row.template_name,
        submitter: row.submitter,
        executor: row.executor,
        details: row.details,
        exec_time: rfc3339(row.exec_time),
        concurrency: row.concurrency,
        source: row.source,
        approval,
        approval_deadline: row.approval_deadline.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Task> {
    who.require(Scope::Read)?;
    load(state, who, id).await
}

/// The task as the API shows it, without a permission check: for answering the caller
/// of a change (a submit-only token still sees the task it just submitted).
pub(crate) async fn load(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Task> {
    to_api(state, who, store::tasks::get(&state.db, id).await.or_not_found("task", id)?).await
}

#[derive(Debug, Default)]
pub struct ListQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub template_id: Option<i64>,
    pub submitter: Option<String>,
    pub q: Option<String>,
    pub page: i64,
    pub per_page: i64,
}

/// Tasks per status, every status listed (zero when there are none).
pub async fn counts(state: &AppState, who: &Principal) -> ServiceResult<Vec<StatusCount>> {
    who.require(Scope::Read)?;
    let found = store::tasks::count_by_status(&state.db).await?;
    Ok(TaskStatus::ALL
        .into_iter()
        .map(|status| {
            let count = found.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            StatusCount { status, count }
        })
        .collect())
}

pub async fn list(state: &AppState, who: &Principal, q: ListQuery) -> ServiceResult<TaskPage> {
    who.require(Scope::Read)?;
    let (page, per_page) = crate::paging(q.page, q.per_page)?;
    let statuses = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(list) => list
            .split(',')
            .map(|s| {
                TaskStatus::parse(s.trim()).map(|t| t.as_str().to_string()).ok_or_else(|| {
                    ServiceError::validation(
                        "status",
                        Message::new("{value} is not a status; use {statuses}")
                            .arg("value", format!("{s:?}"))
                            .arg("statuses", TaskStatus::ALL.map(|t| t.as_str()).join(", ")),
                    )
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?,
        None => vec![],
    };
    if let Some(q) = &q.q {
        validate::text("q", q, SEARCH_MAX_CHARS)?;
    }
    let filter = TaskFilter {
        statuses,
        template_id: q.template_id,
        submitter: q.submitter.filter(|s| !s.is_empty()),
        text: q.q,
        offset: (page - 1) * per_page,
        limit: per_page,
    };
    let (rows, total) = store::tasks::list(&state.db, &filter).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(TaskSummary {
                status: r.status,
                schedule: Schedule::parse(&r.schedule).unwrap_or(Schedule::New),
                id: r.id,
                name: r.name,
                template_id: r.template_id,
                template_name: r.template_name,
                submitter: r.submitter,
                exec_time: rfc3339(r.exec_time),
                created_at: rfc3339(r.created_at),
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(TaskPage { items, total, page, per_page })
}

/// Edits a task that has not started. An approved task goes back to `new`: its approval
/// was for the old contents.
pub async fn update(state: &AppState, who: &Principal, id: i64, change: TaskUpdate) -> ServiceResult<Task> {
    who.require(Scope::TaskSubmit)?;
    let mut row = store::tasks::get(&state.db, id).await.or_not_found("task", id)?;
    if !super::actions::may_edit(who, &row) {
        return Err(ServiceError::Forbidden("only the submitter or an admin may change a task".into()));
    }
    let status = row.status;
    if !matches!(status, TaskStatus::New | TaskStatus::Ready) {
        return Err(ServiceError::InvalidTransition { id, action: "change", from: row.status });
    }
    let snapshot = snapshot_of(&row)?;
    let mut changed = Vec::new();
    if let Some(n) = change.name {
        validate::name("name", &n)?;
        row.name = n;
        changed.push("name");
    }
    if let Some(given) = change.args {
        // Secret values left masked keep their stored value.
        let stored: BTreeMap<String, String> = from_json("tasks.args", &row.args)?;
        let current = inputs::open_args(&state.keys, &snapshot, &stored)?;
        let merged: BTreeMap<String, String> = given
            .into_iter()
            .map(|(k, v)| {
                let keep = v == inputs::MASK && current.contains_key(&k);
                let v = if keep { current[&k].clone() } else { v };
                (k, v)
            })
            .collect();
        let args = check_args(&state.keys, &snapshot, &merged)?;
        row.args = to_json(&inputs::seal_args(&state.keys, &snapshot, &args));
        changed.push("args");
    }
    if let Some(h) = change.hosts {
        let hosts = check_hosts(&snapshot, &h)?;
        inputs::check_logins(&hosts, &store::catalogue::list_hosts(&state.db).await?)?;
        row.hosts = to_json(&hosts);
        changed.push("hosts");
    }
    if let Some(t) = change.exec_time {
        row.exec_time = check_exec_time(state, Some(&t))?;
        row.due_at = Some(due_at(&snapshot, row.exec_time));
        changed.push("exec_time");
    }
    if let Some(d) = change.details {
        validate::text("details", &d, 4000)?;
        row.details = d;
        changed.push("details");
    }
    if let Some(c) = change.concurrency {
        row.concurrency = check_concurrency(c)?;
        changed.push("concurrency");
    }
    let was_approved = row.approval_id.is_some();
    if was_approved {
        row.status = TaskStatus::New;
        row.approval_id = None;
        row.approval_deadline = approval_deadline(state, &snapshot).await?;
    }
    let mut tx = state.db.begin_write().await?;
    if !store::tasks::update_contents(&mut tx, &row, status).await? {
        let now = store::tasks::get_in(&mut tx, id).await?;
        return Err(ServiceError::InvalidTransition { id, action: "change", from: now.status });
    }
    // Whoever changes a task may not be the one who approves it (four eyes).
    store::tasks::add_editor(&mut tx, id, &who.username).await?;
    audit::record(
        &mut tx,
        who,
        "task.update",
        "task",
        id,
        json!({"changed": changed, "approval_withdrawn": was_approved}),
    )
    .await?;
    tx.commit().await?;
    if row.approval_deadline.is_some() {
        state.approval_deadlines.notify_one();
    }
    if row.status == TaskStatus::Ready {
        state.dispatch.notify_one();
    }
    load(state, who, id).await
}
