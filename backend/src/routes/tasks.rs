//! `/api/v1/tasks`.

use api_types::{
    Decision, LogPage, PairSelector, RedoRequest, StatusCount, Task, TaskChange, TaskEvent, TaskEventBatch, TaskPage,
    TaskRun, TaskSubmit, TaskUpdate,
};
use poem::web::sse::Event;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, EventStream, Json};
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiTags, Created};
use crate::http::auth::{BearerAuth, StreamAuth};
use crate::http::error::ApiResult;
use crate::http::payload::{JsonBody, OptionalJsonBody};
use crate::state::AppState;
use crate::tasks::{self, decisions, runs, ListQuery, Submission};
use futures_util::StreamExt;

pub struct TasksApi;

#[derive(ApiResponse)]
enum LogText {
    /// The log as plain text, one line per line written, sent as it is read.
    #[oai(status = 200, content_type = "text/plain; charset=utf-8")]
    Ok(Binary<poem::Body>, #[oai(header = "Content-Disposition")] String),
}

#[OpenApi(prefix_path = "/api/v1/tasks", tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Submit a task. It is stored durably before this answers; `ready` tasks start at
    /// `exec_time`, `new` tasks wait for approval.
    #[oai(path = "/", method = "post", operation_id = "submit_task")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<TaskSubmit>,
    ) -> ApiResult<Created<Task>> {
        let task = tasks::submit(&state, &auth.0, Submission::from_api(body.0)).await?;
        Ok(Created::Created(Json(task)))
    }

    /// Tasks, newest first. `status` takes a comma-separated list; `q` searches name,
    /// details and template name (or matches an id).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/", method = "get", operation_id = "list_tasks")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        status: Query<Option<String>>,
        template_id: Query<Option<i64>>,
        submitter: Query<Option<String>>,
        q: Query<Option<String>>,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> ApiResult<Json<TaskPage>> {
        let query = ListQuery {
            status: status.0,
            template_id: template_id.0,
            submitter: submitter.0,
            q: q.0,
            page: page.0.unwrap_or(1),
            per_page: per_page.0.unwrap_or(20),
        };
        Ok(Json(tasks::list(&state, &auth.0, query).await?))
    }

    /// Live changes of all tasks (Server-Sent Events, `event: task`): one event whenever a
    /// task is submitted, edited, decided, started or finished, from now on. A page keeps
    /// its lists and counters current with it. Browsers pass a `?ticket=` (`POST /api/v1/auth/tickets`).
    #[oai(path = "/changes", method = "get", operation_id = "task_changes")]
    async fn changes(
        &self,
        state: Data<&AppState>,
        auth: StreamAuth,
    ) -> ApiResult<EventStream<std::pin::Pin<Box<dyn futures_util::Stream<Item = TaskChange> + Send>>>> {
        let stream = tasks::changes::follow(&state, auth.principal()).await?;
        let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = TaskChange> + Send>> = Box::pin(stream);
        Ok(EventStream::new(boxed)
            .keep_alive(std::time::Duration::from_secs(15))
            .to_event(|c| Event::message(serde_json::to_string(&c).unwrap_or_default()).event_type("task")))
    }

    /// How many tasks are in each status (every status, zeros included).
    #[oai(path = "/counts", method = "get", operation_id = "task_counts")]
    async fn counts(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Vec<StatusCount>>> {
        Ok(Json(tasks::counts(&state, &auth.0).await?))
    }

    /// One task with its snapshot, approval record and (masked) arguments.
    #[oai(path = "/:id", method = "get", operation_id = "get_task")]
    async fn get(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<Task>> {
        Ok(Json(tasks::get(&state, &auth.0, id.0).await?))
    }

    /// Change a task that has not started (submitter or admin). An approved task goes
    /// back to `new` and must be approved again.
    #[oai(path = "/:id", method = "patch", operation_id = "update_task")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<TaskUpdate>,
    ) -> ApiResult<Json<Task>> {
        Ok(Json(tasks::update(&state, &auth.0, id.0, body.0).await?))
    }

    /// Approve a `new` task (approver, admin, or the template's approver group; never
    /// the submitter unless the policy allows it). Binds the approval to the task's digest.
    #[oai(path = "/:id/approve", method = "post", operation_id = "approve_task")]
    async fn approve(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: OptionalJsonBody<Decision>,
    ) -> ApiResult<Json<Task>> {
        Ok(Json(decisions::approve(&state, &auth.0, id.0, body.0.comment).await?))
    }

    /// Reject a `new` task.
    #[oai(path = "/:id/reject", method = "post", operation_id = "reject_task")]
    async fn reject(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: OptionalJsonBody<Decision>,
    ) -> ApiResult<Json<Task>> {
        Ok(Json(decisions::reject(&state, &auth.0, id.0, body.0.comment).await?))
    }

    /// Cancel a task that has not started (`new` or `ready`).
    #[oai(path = "/:id/cancel", method = "post", operation_id = "cancel_task")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: OptionalJsonBody<Decision>,
    ) -> ApiResult<Json<Task>> {
        Ok(Json(decisions::cancel(&state, &auth.0, id.0, body.0.comment).await?))
    }

    /// The run: each (step, host) pair at its latest attempt, with status, exit code and
    /// timings, by step then host name. A run of thousands of hosts can be read in pages:
    /// `limit` pairs at a time (1 to 10,000), each next page `after` the `next` of the one
    /// before; a redo begun since the first page makes the next `409`.
    #[oai(path = "/:id/run", method = "get", operation_id = "get_task_run")]
    async fn run(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        after: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Json<TaskRun>> {
        let page = runs::RunPage::parse(after.0.as_deref(), limit.0)?;
        Ok(Json(runs::view(&state, &auth.0, id.0, page).await?))
    }

    /// Stop a running task: its remote processes are killed and its pairs become `aborted`.
    #[oai(path = "/:id/abort", method = "post", operation_id = "abort_task")]
    async fn abort(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<TaskRun>> {
        Ok(Json(runs::abort(&state, &auth.0, id.0).await?))
    }

    /// Run a finished task again from its own snapshot: `all`, `failed` (and never
    /// started), the `hosts` listed, or `from_step`. Earlier attempts keep their logs.
    #[oai(path = "/:id/redo", method = "post", operation_id = "redo_task")]
    async fn redo(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<RedoRequest>,
    ) -> ApiResult<Json<TaskRun>> {
        Ok(Json(runs::redo(&state, &auth.0, id.0, body.0).await?))
    }

    /// Mark a failed or not-yet-run pair (or every host of a step) skipped so the run can go on.
    #[oai(path = "/:id/skip", method = "post", operation_id = "skip_pair")]
    async fn skip(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<PairSelector>,
    ) -> ApiResult<Json<TaskRun>> {
        Ok(Json(runs::skip(&state, &auth.0, id.0, body.0).await?))
    }

    /// Let a `manual` step go, on one host or (without `host`) on all.
    #[oai(path = "/:id/release", method = "post", operation_id = "release_step")]
    async fn release(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<PairSelector>,
    ) -> ApiResult<Json<TaskRun>> {
        Ok(Json(runs::release(&state, &auth.0, id.0, body.0).await?))
    }

    /// Log lines in order, a page at a time: pass the answer's `next_after` as `after`.
    /// With `before`, the last `limit` lines numbered below it (still in order): a reader
    /// opens a log at its end and pages back to its start.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/:id/logs", method = "get", operation_id = "task_logs")]
    async fn logs(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        after: Query<Option<i64>>,
        before: Query<Option<i64>>,
        step: Query<Option<i64>>,
        host: Query<Option<String>>,
        attempt: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Json<LogPage>> {
        let q = runs::LogQuery {
            after: after.0.unwrap_or(0),
            before: before.0,
            step: step.0,
            host: host.0,
            attempt: attempt.0,
            limit: limit.0.unwrap_or(1000),
        };
        Ok(Json(runs::logs(&state, &auth.0, id.0, q).await?))
    }

    /// The raw text of a log, streamed: one pair's (`step` and `host`) or the whole
    /// attempt's (neither; each line then starts with its host and step). `attempt`
    /// defaults to the latest with lines. Browsers pass a `?ticket=` (`POST /api/v1/auth/tickets`).
    #[oai(path = "/:id/logs/text", method = "get", operation_id = "task_log_text")]
    async fn log_text(
        &self,
        state: Data<&AppState>,
        auth: StreamAuth,
        id: Path<i64>,
        step: Query<Option<i64>>,
        host: Query<Option<String>>,
        attempt: Query<Option<i64>>,
    ) -> ApiResult<LogText> {
        let q = runs::LogTextQuery { step: step.0, host: host.0, attempt: attempt.0 };
        let (name, text) = runs::log_text(&state, auth.principal(), id.0, q).await?;
        let body = poem::Body::from_bytes_stream(text);
        Ok(LogText::Ok(Binary(body), format!("attachment; filename=\"{name}\"")))
    }

    /// Live events (Server-Sent Events): log lines and status changes as they happen,
    /// from the start or after `Last-Event-ID` (or `?after=`). Ends when the task is over.
    /// With `log_step` and `log_host`, log lines of that pair only (every status change
    /// still): a page watching a large run follows one log. With `batch=true`, the pair
    /// status changes and the log lines that are ready together come as one `pairs` or
    /// `logs` event whose data is `{"events": [...]}` (at most 500 events, in order; the
    /// SSE id is the last one's): a page following thousands of hosts then handles a few
    /// messages at a time instead of thousands. Browsers, whose EventSource sends no
    /// headers, pass a `?ticket=` (`POST /api/v1/auth/tickets`).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/:id/events", method = "get", operation_id = "task_events")]
    async fn events(
        &self,
        state: Data<&AppState>,
        auth: StreamAuth,
        id: Path<i64>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<i64>>,
        after: Query<Option<i64>>,
        log_step: Query<Option<i64>>,
        log_host: Query<Option<String>>,
        batch: Query<Option<bool>>,
    ) -> ApiResult<EventStream<std::pin::Pin<Box<dyn futures_util::Stream<Item = EventMessage> + Send>>>> {
        let from = last_event_id.0.or(after.0).unwrap_or(0);
        let logs_of = match (log_step.0, log_host.0) {
            (Some(step), Some(host)) => Some((step, host)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(
                    crate::error::ServiceError::validation("log_host", "log_step and log_host go together").into()
                )
            }
            (None, Some(_)) => {
                return Err(
                    crate::error::ServiceError::validation("log_step", "log_step and log_host go together").into()
                )
            }
        };
        let stream = runs::events(&state, auth.principal(), id.0, from, logs_of).await?;
        let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = EventMessage> + Send>> = if batch.0 == Some(true) {
            // A `task` event is sent as unbatched; the rest as batches of one kind.
            Box::pin(runs::batched(stream, EVENT_BATCH).map(|mut events| match events.as_slice() {
                [one] if one.kind == "task" => EventMessage::One(events.remove(0)),
                _ => EventMessage::Many(TaskEventBatch { events }),
            }))
        } else {
            Box::pin(stream.map(EventMessage::One))
        };
        Ok(EventStream::new(boxed).keep_alive(std::time::Duration::from_secs(15)).to_event(|m| match m {
            EventMessage::One(e) => {
                let kind = e.kind.clone();
                Event::message(serde_json::to_string(&e).unwrap_or_default()).id(e.id.to_string()).event_type(kind)
            }
            EventMessage::Many(batch) => {
                let last = batch.events.last().map_or(0, |e| e.id);
                let kind = if batch.events.first().is_some_and(|e| e.kind == "pair") { "pairs" } else { "logs" };
                Event::message(serde_json::to_string(&batch).unwrap_or_default()).id(last.to_string()).event_type(kind)
            }
        }))
    }
}

/// The most events one batched message of a task's stream carries.
const EVENT_BATCH: usize = 500;

/// One message of a task's event stream: an event, or (`batch=true`) the pair status
/// changes or log lines that were ready together (a `task` event always comes alone).
#[derive(poem_openapi::Union)]
#[oai(one_of)]
pub enum EventMessage {
    One(TaskEvent),
    Many(TaskEventBatch),
}
