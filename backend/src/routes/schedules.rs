//! `/api/v1/schedules`.

use api_types::{ScheduleFire, ScheduleInput, ScheduleView};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{ApiTags, Created, NoContent};
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::schedules;
use crate::state::AppState;

pub struct SchedulesApi;

#[OpenApi(prefix_path = "/api/v1/schedules", tag = "ApiTags::Schedules")]
impl SchedulesApi {
    /// Every schedule, with its next five fire times.
    #[oai(path = "/", method = "get", operation_id = "list_schedules")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Vec<ScheduleView>>> {
        Ok(Json(schedules::list(&state, &auth.0).await?))
    }

    /// Create a schedule; its tasks are submitted as you. Arguments and hosts are checked now.
    #[oai(path = "/", method = "post", operation_id = "create_schedule")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<ScheduleInput>,
    ) -> ApiResult<Created<ScheduleView>> {
        Ok(Created::Created(Json(schedules::save(&state, &auth.0, None, body.0).await?)))
    }

    /// One schedule.
    #[oai(path = "/:id", method = "get", operation_id = "get_schedule")]
    async fn get(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<ScheduleView>> {
        Ok(Json(schedules::get(&state, &auth.0, id.0).await?))
    }

    /// Replace a schedule (its owner or an admin). Fires before now are not counted as missed.
    #[oai(path = "/:id", method = "put", operation_id = "update_schedule")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<ScheduleInput>,
    ) -> ApiResult<Json<ScheduleView>> {
        Ok(Json(schedules::save(&state, &auth.0, Some(id.0), body.0).await?))
    }

    /// Delete a schedule and its fire record.
    #[oai(path = "/:id", method = "delete", operation_id = "delete_schedule")]
    async fn delete(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<NoContent> {
        schedules::delete(&state, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }

    /// Its fires, newest first: each task made, each fire missed or failed.
    #[oai(path = "/:id/fires", method = "get", operation_id = "schedule_fires")]
    async fn fires(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> ApiResult<Json<Vec<ScheduleFire>>> {
        Ok(Json(schedules::fires(&state, &auth.0, id.0).await?))
    }
}
