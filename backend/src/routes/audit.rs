//! `/api/v1/audit`.

use api_types::AuditPage;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::ApiTags;
use crate::audit::{self, AuditQuery};
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::state::AppState;

pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Audit events, newest first (admin). Filter by actor, action, object type and id.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/audit", method = "get", operation_id = "list_audit")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        actor: Query<Option<String>>,
        action: Query<Option<String>>,
        object_type: Query<Option<String>>,
        object_id: Query<Option<String>>,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditPage>> {
        let q = AuditQuery {
            actor: actor.0,
            action: action.0,
            object_type: object_type.0,
            object_id: object_id.0,
            page: page.0.unwrap_or(1),
            per_page: per_page.0.unwrap_or(50),
        };
        Ok(Json(audit::list(&state, &auth.0, q).await?))
    }
}
