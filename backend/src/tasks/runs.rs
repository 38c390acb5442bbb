//! Acting on runs: the run view, abort, redo, skip, release, the log and the live stream.

use std::collections::BTreeMap;
use std::time::Duration;

use api_types::{
    LogLine, LogPage, Message, Pair, PairSelector, PairStatus, RedoMode, RedoRequest, Scope, Stream, TaskEvent,
    TaskRun, TaskStatus,
};
use futures_util::Stream as FutStream;
use serde_json::json;

use super::service::snapshot_of;
use crate::accounts::{self, Principal};
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::executor::{self, plan};
use crate::scheduler::recovery;
use crate::state::AppState;
use crate::store::runs::{self, EventFilter, EventRow, PairRow};
use crate::store::{self, from_json, rfc3339, tasks::TaskRow};

fn pair_to_api(p: &PairRow) -> Pair {
    Pair {
        step: p.step_index,
        step_name: p.step_name.clone(),
        group: p.grp.clone(),
        host: p.host.clone(),
        status: p.status,
        attempt: p.attempt,
        tries: p.tries,
        exit_code: p.exit_code,
        started_at: p.started_at.map(rfc3339),
        finished_at: p.finished_at.map(rfc3339),
        message: p.message.clone(),
        kill_confirmed: p.kill_confirmed.map(|k| k != 0),
    }
}

async fn task_row(state: &AppState, id: i64) -> ServiceResult<TaskRow> {
    store::tasks::get(&state.db, id).await.or_not_found("task", id)
}

/// The run as it is now, all its pairs.
async fn run_of(state: &AppState, id: i64) -> ServiceResult<TaskRun> {
    run_page(state, id, RunPage::default()).await
}

/// The run as it is now, its pairs as `page` asks. The event position is read before the
/// task and its pairs, so a live stream opened after it misses no change made since.
async fn run_page(state: &AppState, id: i64, page: RunPage) -> ServiceResult<TaskRun> {
    let last_event_id = runs::last_event_id(&state.db, id).await?;
    let row = task_row(state, id).await?;
    // The pages of one read are of one attempt: after a redo began, the pairs before the
    // cursor are not the run's any more.
    if page.attempt.is_some_and(|a| a != row.attempt) {
        return Err(redo_began());
    }
    let limit = page.limit.unwrap_or(i64::MAX);
    // One more than asked for says whether there is a next page.
    let mut pairs = runs::latest_pairs_after(&state.db, row.id, &page.after, limit.saturating_add(1)).await?;
    // A redo recorded between the task's read and its pairs' (a later page would have
    // been refused): the same.
    if page.attempt.is_some_and(|a| pairs.iter().any(|p| p.attempt > a)) {
        return Err(redo_began());
    }
    let next = (pairs.len() as i64 > limit).then(|| {
        pairs.truncate(limit as usize);
        pairs.last().map(|p| format!("{}.{}.{}", row.attempt, p.step_index, p.host)).unwrap_or_default()
    });
    Ok(TaskRun {
        last_event_id,
        task_id: row.id,
        status: row.status,
        attempt: row.attempt,
        started_at: row.started_at.map(rfc3339),
        finished_at: row.finished_at.map(rfc3339),
        pairs: pairs.iter().map(pair_to_api).collect(),
        next,
    })
}

fn redo_began() -> ServiceError {
    ServiceError::Conflict(Message::new(
        "the run changed since the first page (a redo began): read it again from the start",
    ))
}

/// Which pairs a read of the run returns: all (the default), or `limit` of them after
/// the cursor `after` (the `next` of the page before).
#[derive(Debug, Clone)]
pub struct RunPage {
    pub after: runs::PairCursor,
    /// The attempt the first page was of (from the cursor).
    pub attempt: Option<i64>,
    pub limit: Option<i64>,
}

impl Default for RunPage {
    fn default() -> Self {
        RunPage { after: runs::PairCursor::START, attempt: None, limit: None }
    }
}

/// Most pairs one page of the run holds.
pub const RUN_PAGE_MAX: i64 = 10_000;

impl RunPage {
    /// From the query: `after` as `next` gave it (`ATTEMPT.STEP.HOST`), `limit` 1 to
    /// [`RUN_PAGE_MAX`].
    pub fn parse(after: Option<&str>, limit: Option<i64>) -> ServiceResult<RunPage> {
        let (after, attempt) = match after {
            None => (runs::PairCursor::START, None),
            Some(a) => {
                let mut parts = a.splitn(3, '.');
                let number = |p: Option<&str>| p.and_then(|p| p.parse::<i64>().ok()).filter(|n| *n >= 0);
                match (number(parts.next()), number(parts.next()), parts.next()) {
                    (Some(attempt), Some(step_index), Some(host)) if !host.is_empty() => {
                        (runs::PairCursor { step_index, host: host.to_string() }, Some(attempt))
                    }
                    _ => return Err(ServiceError::validation("after", "must be the `next` of the page before")),
                }
            }
        };
        if limit.is_some_and(|l| !(1..=RUN_PAGE_MAX).contains(&l)) {
            return Err(ServiceError::validation(
                "limit",
                Message::new("must be between 1 and {max}").arg("max", RUN_PAGE_MAX),
            ));
        }
        Ok(RunPage { after, attempt, limit })
    }
}

pub async fn view(state: &AppState, who: &Principal, id: i64, page: RunPage) -> ServiceResult<TaskRun> {
    who.require(Scope::Read)?;
    run_page(state, id, page).await
}

/// Run actions belong to the submitter and to approvers and admins.
pub(crate) fn may_act(who: &Principal, row: &TaskRow, action: &'static str) -> ServiceResult<()> {
    who.require(Scope::TaskSubmit)?;
    if row.submitter == who.username || who.can(Scope::TaskApprove) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            Message::new("only the submitter, an approver or an admin may {action} task {id}")
                .nested("action", Message::new(action))
                .arg("id", row.id),
        ))
    }
}

fn invalid(row: &TaskRow, action: &'static str) -> ServiceError {
    ServiceError::InvalidTransition { id: row.id, action, from: row.status }
}

/// Stops a running task: remote process groups are killed, pairs become `aborted`.
pub async fn abort(state: &AppState, who: &Principal, id: i64) -> ServiceResult<TaskRun> {
    let row = task_row(state, id).await?;
    may_act(who, &row, "abort")?;
    let mut tx = state.db.begin_write().await?;
    if !runs::request_abort(&mut tx, id).await? {
        return Err(invalid(&row, "abort"));
    }
    audit::record(&mut tx, who, "task.abort", "task", id, json!({"attempt": row.attempt})).await?;
    tx.commit().await?;
    // Here at once; another instance running it sees the flag within a second.
    state.runs.abort(id);
    if !state.runs.is_running_here(id) {
        reach_abort(state, id).await?;
    }
    run_of(state, id).await
}

/// How long an abort waits for the kills of a run it took over before answering.
const REAP_WAIT: Duration = Duration::from_secs(45);

/// An abort of a run another instance owns. While that instance lives it acts within a
/// second. If its lease has already ended (the instance stopped), the run is taken over
/// here and its steps are killed before the answer, which then shows what was seen on
/// each host. If the lease is still current, the run is watched, and taken over as soon
/// as the lease ends unrenewed.
async fn reach_abort(state: &AppState, id: i64) -> ServiceResult<()> {
    let Some(owner) = runs::run_owner(&state.db, id).await? else { return Ok(()) };
    let until = owner.lease_until.unwrap_or(0);
    // The same grace as every takeover: the owner has stopped by then, and clocks differ.
    let grace = state.runs.lease().grace().as_millis() as i64;
    if until < store::now_ms() - grace {
        if let Some(taken) = recovery::take_over(state, id, owner.attempt, None, store::now_ms() - grace).await? {
            let state = state.clone();
            let reaping = tokio::spawn(async move { taken.reap(&state).await });
            let _ = tokio::time::timeout(REAP_WAIT, reaping).await;
        }
        return Ok(());
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut until = until;
        loop {
            let wait = (until + grace - store::now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            match runs::run_owner(&state.db, id).await {
                // Over, or a new attempt: nothing left to abort here.
                Ok(None) => return,
                Ok(Some(o)) if o.attempt != owner.attempt => return,
                // Renewed: the owner lives and sees the abort itself.
                Ok(Some(o)) if o.lease_until.unwrap_or(0) > until => return,
                Ok(Some(_)) => {}
                Err(e) => {
                    tracing::warn!(task = id, error = %e, "watching an aborted run failed");
                    until = store::now_ms();
                    continue;
                }
            }
            match recovery::take_over(&state, id, owner.attempt, None, store::now_ms() - grace).await {
                Ok(Some(taken)) => taken.reap(&state).await,
                Ok(None) => {}
                Err(e) => tracing::warn!(task = id, error = %e, "taking over an aborted run failed"),
            }
            return;
        }
    });
    Ok(())
}

/// A new attempt from the task's own snapshot: all pairs, the failed ones (and those
/// never started), some hosts, or from a step on.
pub async fn redo(state: &AppState, who: &Principal, id: i64, req: RedoRequest) -> ServiceResult<TaskRun> {
    let row = task_row(state, id).await?;
    may_act(who, &row, "redo")?;
    let from = row.status;
    if !matches!(from, TaskStatus::Failed | TaskStatus::Aborted | TaskStatus::Interrupted | TaskStatus::Success) {
        return Err(invalid(&row, "redo"));
    }
    let snapshot = snapshot_of(&row)?;
    let hosts: BTreeMap<String, Vec<String>> = from_json("tasks.hosts", &row.hosts)?;
    let all = plan::all_pairs(&snapshot, &hosts);
    let chosen_hosts = req.hosts.clone().unwrap_or_default();
    let from_step = match (req.mode, req.step) {
        (RedoMode::FromStep, None) => return Err(ServiceError::validation("step", "from_step needs a step")),
        (_, Some(s)) if s < 0 || s as usize >= snapshot.steps.len() => {
            return Err(ServiceError::validation(
                "step",
                Message::new("the template has steps 0 to {last}").arg("last", snapshot.steps.len() - 1),
            ))
        }
        (_, s) => s.unwrap_or(0) as usize,
    };
    if req.mode == RedoMode::Hosts {
        if chosen_hosts.is_empty() {
            return Err(ServiceError::validation("hosts", "name at least one host"));
        }
        if let Some(h) = chosen_hosts.iter().find(|h| !all.iter().any(|p| &p.host == *h)) {
            return Err(ServiceError::validation(
                "hosts",
                Message::new("{host} is not a host of this task").arg("host", h),
            ));
        }
    }
    let latest: BTreeMap<(usize, String), PairStatus> = runs::latest_pairs(&state.db, id)
        .await?
        .into_iter()
        .map(|p| ((p.step_index as usize, p.host), p.status))
        .collect();
    let chosen = plan::redo_pairs(all, &latest, req.mode, &chosen_hosts, from_step);
    if chosen.is_empty() {
        return Err(ServiceError::Conflict(Message::new("task {id} has nothing to redo in this mode").arg("id", id)));
    }
    let mut tx = state.db.begin_write().await?;
    // The lease is counted, on this instance's clock, from before it is written (after
    // the wait for the write lock, which may be long under load).
    let leased = tokio::time::Instant::now();
    let lease_ms = state.runs.lease().ms();
    let Some(attempt) = runs::restart_task(&mut tx, id, from.as_str(), &state.node_id, lease_ms).await? else {
        return Err(invalid(&task_row(state, id).await?, "redo"));
    };
    plan::record_attempt(&mut tx, id, attempt, &snapshot, &chosen).await?;
    audit::record(
        &mut tx,
        who,
        "task.redo",
        "task",
        id,
        json!({"attempt": attempt, "mode": req.mode, "pairs": chosen.len()}),
    )
    .await?;
    state.runs.register(id, attempt, leased);
    if let Err(e) = tx.commit().await {
        state.runs.unregister(id, attempt);
        return Err(e.into());
    }
    state.runs.committed(id, attempt);
    state.runs.spawn(id, attempt, executor::run_attempt(state.clone(), id, attempt));
    run_of(state, id).await
}

/// The latest pairs that `sel` names (one host, or every host of the step).
/// Read inside the caller's write transaction, after its lock on the task: a change of
/// the run queued for the same commit (a redo's new attempt) is seen.
async fn selected(conn: &mut sqlx::AnyConnection, row: &TaskRow, sel: &PairSelector) -> ServiceResult<Vec<PairRow>> {
    let pairs: Vec<PairRow> = runs::latest_pairs_in(conn, row.id)
        .await?
        .into_iter()
        .filter(|p| p.step_index == sel.step && sel.host.as_ref().is_none_or(|h| *h == p.host))
        .collect();
    if pairs.is_empty() {
        let what = match &sel.host {
            Some(h) => format!("step {} on host {h}", sel.step),
            None => format!("step {}", sel.step),
        };
        return Err(ServiceError::not_found("pair", format!("{what} of task {}", row.id)));
    }
    Ok(pairs)
}

/// Marks failed or not-yet-run pairs skipped so the run can go on past them. When that
/// leaves a finished task with nothing failed, the task becomes a success.
pub async fn skip(state: &AppState, who: &Principal, id: i64, sel: PairSelector) -> ServiceResult<TaskRun> {
    let row = task_row(state, id).await?;
    may_act(who, &row, "skip a step of")?;
    let from: Vec<PairStatus> = PairStatus::ALL.into_iter().filter(|s| s.can_skip()).collect();
    let mut tx = state.db.begin_write().await?;
    runs::lock_task(&mut tx, state.db.dialect, id).await?;
    let mut changed = 0;
    for p in selected(&mut tx, &row, &sel).await? {
        if runs::set_pair_status_if(&mut tx, p.id, &from, PairStatus::Skipped, &format!("skipped by {}", who.username))
            .await?
        {
            let body = json!({"status": "skipped", "message": format!("skipped by {}", who.username)}).to_string();
            runs::insert_pair_event(&mut tx, id, p.attempt, p.step_index, &p.host, &body).await?;
            changed += 1;
        }
    }
    if changed == 0 {
        return Err(ServiceError::Conflict("only failed, pending or waiting steps can be skipped".into()));
    }
    audit::record(&mut tx, who, "task.skip", "task", id, json!({"step": sel.step, "host": sel.host})).await?;
    tx.commit().await?;
    if row.status == TaskStatus::Failed && executor::final_status(state, id).await? == TaskStatus::Success {
        let mut tx = state.db.begin_write().await?;
        runs::succeed_after_skip(&mut tx, id, row.attempt).await?;
        tx.commit().await?;
    }
    state.events.notify(id);
    run_of(state, id).await
}

/// Lets a `manual` step go, on one host or on all.
pub async fn release(state: &AppState, who: &Principal, id: i64, sel: PairSelector) -> ServiceResult<TaskRun> {
    let row = task_row(state, id).await?;
    may_act(who, &row, "release a step of")?;
    if row.status != TaskStatus::Running {
        return Err(invalid(&row, "release"));
    }
    let snapshot = snapshot_of(&row)?;
    let manual = snapshot.steps.get(sel.step as usize).is_some_and(|s| s.trigger == api_types::Trigger::Manual);
    if !manual {
        return Err(ServiceError::validation(
            "step",
            Message::new("step {step} is not a manual step").arg("step", sel.step),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let pairs = selected(&mut tx, &row, &sel).await?;
    for p in &pairs {
        runs::release_pair(&mut tx, p.id).await?;
    }
    audit::record(&mut tx, who, "task.release", "task", id, json!({"step": sel.step, "host": sel.host})).await?;
    tx.commit().await?;
    state.runs.release(id);
    run_of(state, id).await
}

/// The most log lines one page holds.
pub const LOG_LIMIT_MAX: i64 = 5000;

pub struct LogQuery {
    pub after: i64,
    /// Only lines numbered below this one, the last `limit` of them (paging backwards).
    pub before: Option<i64>,
    pub step: Option<i64>,
    pub host: Option<String>,
    pub attempt: Option<i64>,
    pub limit: i64,
}

fn stream_of(s: &str) -> Stream {
    match s {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => Stream::System,
    }
}

pub async fn logs(state: &AppState, who: &Principal, id: i64, q: LogQuery) -> ServiceResult<LogPage> {
    who.require(Scope::Read)?;
    task_row(state, id).await?;
    if !(1..=LOG_LIMIT_MAX).contains(&q.limit) {
        return Err(ServiceError::validation(
            "limit",
            Message::new("must be between 1 and {max}").arg("max", LOG_LIMIT_MAX),
        ));
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(ServiceError::validation("before", "must be 1 or more"));
    }
    let filter = EventFilter {
        after: q.after.max(0),
        before: q.before,
        newest: q.before.is_some(),
        kind: Some("log"),
        step: q.step,
        host: q.host,
        attempt: q.attempt,
        logs_of: None,
        limit: q.limit,
    };
    let rows = runs::events(&state.db, id, &filter).await?;
    let next_after = rows.last().map(|r| r.id).unwrap_or(q.after);
    let lines = rows.into_iter().map(line_of).collect();
    Ok(LogPage { lines, next_after })
}

fn line_of(r: EventRow) -> LogLine {
    LogLine {
        id: r.id,
        attempt: r.attempt,
        step: r.step_index,
        host: r.host,
        stream: stream_of(&r.stream),
        seq: r.seq,
        text: r.body,
        at: rfc3339(r.at),
    }
}

/// What a log download covers: one pair's log, or every pair's, of one attempt.
pub struct LogTextQuery {
    pub step: Option<i64>,
    pub host: Option<String>,
    /// The latest attempt with lines when not given.
    pub attempt: Option<i64>,
}

/// Lines read from the database per round of a download: memory stays flat whatever the
/// log's size (at most this many lines of up to 16 KiB each, 4 MiB).
const DOWNLOAD_PAGE: i64 = 256;

/// A log as plain text, streamed page by page: one pair's lines as they were written, or
/// every pair's of the attempt, each prefixed with its host and step. Returns the file
/// name to offer and the stream.
pub async fn log_text(
    state: &AppState,
    who: &Principal,
    id: i64,
    q: LogTextQuery,
) -> ServiceResult<(String, impl FutStream<Item = std::io::Result<Vec<u8>>> + Send + 'static)> {
    who.require(Scope::Read)?;
    task_row(state, id).await?;
    if q.step.is_some() != q.host.is_some() {
        let field = if q.step.is_some() { "host" } else { "step" };
        return Err(ServiceError::validation(
            field,
            "step and host go together: give both for one pair's log, neither for the whole attempt",
        ));
    }
    if q.attempt.is_some_and(|a| a < 1) {
        return Err(ServiceError::validation("attempt", "must be 1 or more"));
    }
    let attempt = match q.attempt {
        Some(a) => a,
        None => runs::latest_log_attempt(&state.db, id, q.step, q.host.as_deref()).await?,
    };
    let pair = q.step.zip(q.host);
    let name = match &pair {
        Some((step, host)) => {
            format!("task-{id}-attempt-{attempt}-step-{}-{}.log", step.saturating_add(1), file_safe(host))
        }
        None => format!("task-{id}-attempt-{attempt}.log"),
    };
    // A download holds a place among its user's live streams while it is sent, and ends
    // when the credential it was asked with no longer holds.
    let guard = std::sync::Arc::new(state.streams.open(who.user_id).ok_or_else(|| {
        ServiceError::Busy(
            Message::new(
                "{user} already has {max} live streams or downloads open; close one (or wait for it to end) first",
            )
            .arg("user", &who.username)
            .arg("max", crate::state::MAX_STREAMS_PER_USER),
        )
    })?);
    let (state, who) = (state.clone(), who.clone());
    let stream = futures_util::stream::unfold(Some(0i64), move |after| {
        let (state, who, pair, guard) = (state.clone(), who.clone(), pair.clone(), guard.clone());
        async move {
            let _held = guard;
            let after = after?;
            if let Err(e @ ServiceError::Unauthorized(_)) = accounts::tokens::recheck(&state, &who).await {
                tracing::info!(task = id, reason = ?e.to_string(), "log download ended");
                return Some((Err(std::io::Error::other("the credential no longer holds")), None));
            }
            let db = &state.db;
            let filter = EventFilter {
                after,
                kind: Some("log"),
                step: pair.as_ref().map(|p| p.0),
                host: pair.as_ref().map(|p| p.1.clone()),
                attempt: Some(attempt),
                limit: DOWNLOAD_PAGE,
                ..Default::default()
            };
            match runs::events(db, id, &filter).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = (rows.len() as i64 == DOWNLOAD_PAGE).then(|| rows.last().map_or(after, |r| r.id));
                    let mut out = Vec::with_capacity(rows.iter().map(|r| r.body.len() + 24).sum());
                    for r in rows {
                        if pair.is_none() {
                            out.extend_from_slice(format!("{} step {}: ", r.host, r.step_index + 1).as_bytes());
                        }
                        out.extend_from_slice(r.body.as_bytes());
                        out.push(b'\n');
                    }
                    Some((Ok(out), next))
                }
                Err(e) => {
                    // The answer has begun: all that is left is to cut it short, which
                    // the client sees as a broken transfer rather than a complete file.
                    tracing::warn!(task = id, error = %e, "reading a log for download failed");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    Ok((name, stream))
}

/// A host name made safe for a file name: letters, digits, `.`, `-` and `_` kept, the rest `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect()
}

fn event_to_api(r: EventRow) -> TaskEvent {
    let status_body: serde_json::Value =
        if r.kind == "status" { serde_json::from_str(&r.body).unwrap_or_default() } else { serde_json::Value::Null };
    let text = |k: &str| status_body.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (kind, status) = match (r.kind.as_str(), r.step_index) {
        ("log", _) => ("log", None),
        (_, -1) => ("task", text("task_status")),
        _ => ("pair", text("status")),
    };
    TaskEvent {
        id: r.id,
        kind: kind.to_string(),
        attempt: r.attempt,
        step: r.step_index,
        stream: (r.kind == "log").then(|| stream_of(&r.stream)),
        seq: (r.kind == "log").then_some(r.seq),
        exit_code: status_body.get("exit_code").and_then(|v| v.as_i64()),
        message: text("message"),
        text: (r.kind == "log").then_some(r.body),
        host: r.host,
        status,
        at: rfc3339(r.at),
    }
}

/// The task's events after `after`, then new ones as they happen. Ends when the task is
/// over and everything has been sent, or when the caller's credential stops holding
/// (token revoked or expired, user disabled, sessions ended), checked at least once a
/// second. Memory stays bounded: at most one page is held.
pub async fn events(
    state: &AppState,
    who: &Principal,
    id: i64,
    after: i64,
    logs_of: Option<(i64, String)>,
) -> ServiceResult<impl FutStream<Item = TaskEvent> + Send + 'static> {
    who.require(Scope::Read)?;
    task_row(state, id).await?;
    let guard = state.streams.open(who.user_id).ok_or_else(|| {
        ServiceError::Busy(
            Message::new("{user} already has {max} live streams open; close one (or wait for it to end) first")
                .arg("user", &who.username)
                .arg("max", crate::state::MAX_STREAMS_PER_USER),
        )
    })?;
    let rx = state.events.subscribe();
    let stream = LiveStream {
        _guard: guard,
        state: state.clone(),
        who: who.clone(),
        after: after.max(0),
        logs_of,
        buf: std::collections::VecDeque::new(),
        rx,
        done: false,
        failed_reads: 0,
        checked: tokio::time::Instant::now(),
    };
    Ok(futures_util::stream::unfold(stream, move |mut s| async move {
        loop {
            if let Some(e) = s.buf.pop_front() {
                return Some((e, s));
            }
            if s.checked.elapsed() >= CREDENTIAL_CHECK {
                match accounts::tokens::recheck(&s.state, &s.who).await {
                    Ok(()) => s.checked = tokio::time::Instant::now(),
                    Err(e @ ServiceError::Unauthorized(_)) => {
                        tracing::info!(task = id, user = ?s.who.username, reason = ?e.to_string(), "event stream ended");
                        return None;
                    }
                    // A database hiccup: look again at the next turn.
                    Err(e) => {
                        tracing::warn!(task = id, error = ?e.to_string(), "checking a stream's credential failed")
                    }
                }
            }
            // Every event up to the task's last committed one is visible: read up to it, and
            // go on from it even when the filter left nothing (a quiet pair's stream does not
            // scan the other pairs' lines again at every turn).
            let seen_up_to = match runs::last_event_id(&s.state.db, id).await {
                Ok(last) => last,
                Err(e) => {
                    tracing::warn!(task = id, error = %e, "reading events failed");
                    s.after
                }
            };
            const PAGE: i64 = 500;
            let filter = EventFilter {
                after: s.after,
                before: Some(seen_up_to.saturating_add(1)),
                logs_of: s.logs_of.clone(),
                limit: PAGE,
                ..Default::default()
            };
            match runs::events(&s.state.db, id, &filter).await {
                Ok(rows) => {
                    let full = rows.len() as i64 == PAGE;
                    s.after = match rows.last() {
                        Some(last) if full => last.id,
                        _ => s.after.max(seen_up_to),
                    };
                    if !rows.is_empty() {
                        s.buf.extend(rows.into_iter().map(event_to_api));
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(task = id, error = %e, "reading events failed");
                }
            }
            if s.done {
                return None;
            }
            // Nothing new: end if the task is over, else wait for news (or a second).
            match store::tasks::get(&s.state.db, id).await {
                Ok(t) if t.status.is_final() && !s.state.runs.is_running_here(id) => {
                    // One last look: events may have landed between the two reads.
                    s.done = true;
                    continue;
                }
                Err(crate::store::StoreError::NotFound) => return None,
                // A database hiccup (a busy pool under a thousand hosts): the stream goes
                // on, rather than make every page read its run again; a database that stays
                // away ends it (its page reconnects from its last event).
                Err(e) => {
                    s.failed_reads += 1;
                    tracing::warn!(task = id, error = %e, "reading a streamed task failed");
                    if s.failed_reads >= STREAM_FAILED_READS {
                        return None;
                    }
                }
                Ok(_) => s.failed_reads = 0,
            }
            let rx = &mut s.rx;
            let wait = async {
                loop {
                    match rx.recv().await {
                        Ok(task) if task == id => return,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Err(_) => std::future::pending::<()>().await,
                    }
                }
            };
            let _ = tokio::time::timeout(CREDENTIAL_CHECK, wait).await;
        }
    }))
}

/// `events` grouped for sending: the events that are ready together (up to `max`), cut
/// where the kind changes, so that a group is pair status changes only, log lines only,
/// or one `task` event. Nothing waits for a group to fill: what is ready goes at once.
pub fn batched(
    events: impl FutStream<Item = TaskEvent> + Send + 'static,
    max: usize,
) -> impl FutStream<Item = Vec<TaskEvent>> + Send + 'static {
    use futures_util::StreamExt;
    events.ready_chunks(max.max(1)).flat_map(|ready| {
        let mut groups: Vec<Vec<TaskEvent>> = vec![];
        for e in ready {
            match groups.last_mut() {
                Some(g) if e.kind != "task" && g.last().is_some_and(|l| l.kind == e.kind) => g.push(e),
                _ => groups.push(vec![e]),
            }
        }
        futures_util::stream::iter(groups)
    })
}

/// How often a live stream checks that its caller's credential still holds; also the
/// longest it waits for news before looking again.
const CREDENTIAL_CHECK: Duration = Duration::from_secs(1);

/// A live stream whose task could not be read this many times in a row (about a second
/// apart) ends.
const STREAM_FAILED_READS: u32 = 30;

/// The state a live stream carries between events.
struct LiveStream {
    /// Holds the stream's place among its user's open streams.
    _guard: crate::state::StreamGuard,
    state: AppState,
    who: Principal,
    after: i64,
    /// Log lines of this (step, host) only; every state event still.
    logs_of: Option<(i64, String)>,
    buf: std::collections::VecDeque<TaskEvent>,
    rx: tokio::sync::broadcast::Receiver<i64>,
    done: bool,
    /// Reads of the task that failed in a row.
    failed_reads: u32,
    checked: tokio::time::Instant,
}
