//! `/api/v1/policy` and health.

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::policy::{self, Policy};
use crate::state::AppState;

pub struct SystemApi;

#[derive(ApiResponse)]
enum Health {
    /// The server works.
    #[oai(status = 200)]
    Ok(PlainText<String>),
    /// The database cannot be reached or does not take writes; the text says why.
    #[oai(status = 503)]
    Unavailable(PlainText<String>),
}

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Liveness: `ok` while the database answers and takes writes; `503` with the reason
    /// when it does not (unreachable, or its last write failed, such as on a full disk).
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&AppState>) -> Health {
        match state.db.check_health().await {
            Ok(()) => Health::Ok(PlainText("ok".into())),
            Err(why) => Health::Unavailable(PlainText(why)),
        }
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
