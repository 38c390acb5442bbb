//! `/api/v1/tasks`.

use api_types::{Decision, Task, TaskPage, TaskSubmit, TaskUpdate};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{ApiTags, Created};
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::http::payload::{JsonBody, OptionalJsonBody};
use crate::state::AppState;
use crate::tasks::{self, decisions, ListQuery, Submission};

pub struct TasksApi;

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
}
