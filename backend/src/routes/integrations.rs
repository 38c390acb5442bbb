//! `/api/v1/gitlab/rules`, the GitLab webhook `/api/v1/hooks/gitlab`, and `/api/v1/mail`.

use api_types::{GitlabRule, GitlabRuleInput, HookAnswer, MailRecord};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{ApiTags, Created, NoContent};
use crate::http::auth::{remote_addr, BearerAuth};
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::state::AppState;
use crate::{gitlab, mail};

pub struct IntegrationsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Integrations")]
impl IntegrationsApi {
    /// Every GitLab rule (secrets are never shown).
    #[oai(path = "/gitlab/rules", method = "get", operation_id = "list_gitlab_rules")]
    async fn list_rules(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Vec<GitlabRule>>> {
        Ok(Json(gitlab::list(&state, &auth.0).await?))
    }

    /// Create a rule (admins); its tasks are submitted as you.
    #[oai(path = "/gitlab/rules", method = "post", operation_id = "create_gitlab_rule")]
    async fn create_rule(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<GitlabRuleInput>,
    ) -> ApiResult<Created<GitlabRule>> {
        Ok(Created::Created(Json(gitlab::save(&state, &auth.0, None, body.0).await?)))
    }

    #[oai(path = "/gitlab/rules/:id", method = "get", operation_id = "get_gitlab_rule")]
    async fn get_rule(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<GitlabRule>> {
        Ok(Json(gitlab::get(&state, &auth.0, id.0).await?))
    }

    /// Replace a rule (admins). Without `secret` the old secret stays.
    #[oai(path = "/gitlab/rules/:id", method = "put", operation_id = "update_gitlab_rule")]
    async fn update_rule(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<GitlabRuleInput>,
    ) -> ApiResult<Json<GitlabRule>> {
        Ok(Json(gitlab::save(&state, &auth.0, Some(id.0), body.0).await?))
    }

    #[oai(path = "/gitlab/rules/:id", method = "delete", operation_id = "delete_gitlab_rule")]
    async fn delete_rule(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<NoContent> {
        gitlab::delete(&state, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }

    /// GitLab webhook for Tag Push events. Authenticated by `X-Gitlab-Token` (a rule's
    /// secret), not by a bearer token. Creates one task per matching rule; answers 200
    /// with a reason for what it ignores (tag deletions, other events, unmatched tags).
    #[oai(path = "/hooks/gitlab", method = "post", operation_id = "gitlab_webhook")]
    async fn gitlab_hook(
        &self,
        req: &Request,
        state: Data<&AppState>,
        #[oai(name = "X-Gitlab-Event")] event: Header<Option<String>>,
        #[oai(name = "X-Gitlab-Token")] token: Header<Option<String>>,
        body: JsonBody<serde_json::Value>,
    ) -> ApiResult<Json<HookAnswer>> {
        let answer =
            gitlab::handle_hook(&state, event.0.as_deref(), token.0.as_deref(), body.0, &remote_addr(req)).await?;
        Ok(Json(answer))
    }

    /// Notifications, newest first: whom, what, and whether they were sent (admins).
    #[oai(path = "/mail", method = "get", operation_id = "list_mail")]
    async fn list_mail(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        task_id: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<MailRecord>>> {
        Ok(Json(mail::list(&state, &auth.0, task_id.0).await?))
    }
}
