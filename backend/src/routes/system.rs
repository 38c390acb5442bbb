//! `/api/v1/policy` and health.

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::OpenApi;

use super::ApiTags;
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::policy::{self, Policy};
use crate::state::AppState;

pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Liveness and database reachability.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&AppState>) -> poem::Result<PlainText<&'static str>> {
        sqlx::query("SELECT 1").execute(&state.db.pool).await.map_err(|e| {
            tracing::warn!(error = %e, "health check: database unreachable");
            poem::Error::from_string("database unreachable", poem::http::StatusCode::SERVICE_UNAVAILABLE)
        })?;
        Ok(PlainText("ok"))
    }

    /// Server rules: self-approval and the approval timeout.
    #[oai(path = "/api/v1/policy", method = "get", operation_id = "get_policy")]
    async fn get_policy(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Policy>> {
        Ok(Json(policy::read(&state, &auth.0).await?))
    }

    /// Change the server rules (admin).
    #[oai(path = "/api/v1/policy", method = "put", operation_id = "put_policy")]
    async fn put_policy(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<Policy>,
    ) -> ApiResult<Json<Policy>> {
        Ok(Json(policy::put(&state, &auth.0, body.0).await?))
    }
}
