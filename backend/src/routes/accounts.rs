//! `/api/v1/auth`, `/api/v1/me`, `/api/v1/users`, `/api/v1/tokens`.

use api_types::{
    LoginRequest, LoginResponse, Ticket, TicketRequest, TokenCreate, TokenCreated, TokenInfo, User, UserCreate,
    UserUpdate,
};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{ApiTags, Created};
use crate::accounts::service;
use crate::http::auth::{remote_addr, BearerAuth};
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::state::AppState;

pub struct AccountsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Accounts")]
impl AccountsApi {
    /// Log in with username and password; returns a session token (JWT) that expires.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        Ok(Json(service::login(&state, body.0, &remote_addr(req)).await?))
    }

    /// A ticket for one stream or log download, valid for a minute: what a browser puts
    /// in a URL (`?ticket=`) where it cannot send the `Authorization` header. It opens that
    /// path only, is refused as a bearer token, and stops working with the session or API
    /// token it was taken with.
    #[oai(path = "/auth/tickets", method = "post", operation_id = "create_ticket")]
    async fn create_ticket(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<TicketRequest>,
    ) -> ApiResult<Created<Ticket>> {
        Ok(Created::Created(Json(service::ticket(&state, &auth.0, body.0)?)))
    }

    /// The caller's own account.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<User>> {
        Ok(Json(service::me(&state, &auth.0).await?))
    }

    /// All users (admin).
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Vec<User>>> {
        Ok(Json(service::list_users(&state, &auth.0).await?))
    }

    /// Create a user (admin).
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<UserCreate>,
    ) -> ApiResult<Created<User>> {
        Ok(Created::Created(Json(service::create_user(&state, &auth.0, body.0).await?)))
    }

    /// One user (admin, or yourself).
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get_user(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<User>> {
        Ok(Json(service::get_user(&state, &auth.0, id.0).await?))
    }

    /// Change a user: admins change anything, users their own password, name and email.
    #[oai(path = "/users/:id", method = "put", operation_id = "update_user")]
    async fn update_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<UserUpdate>,
    ) -> ApiResult<Json<User>> {
        Ok(Json(service::update_user(&state, &auth.0, id.0, body.0).await?))
    }

    /// Your API tokens; `all=true` lists everyone's (admin). Secrets are never shown again.
    #[oai(path = "/tokens", method = "get", operation_id = "list_tokens")]
    async fn list_tokens(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        all: Query<Option<bool>>,
    ) -> ApiResult<Json<Vec<TokenInfo>>> {
        Ok(Json(service::list_tokens(&state, &auth.0, all.0.unwrap_or(false)).await?))
    }

    /// Create a long-lived API token. The token is in this answer only: store it now.
    #[oai(path = "/tokens", method = "post", operation_id = "create_token")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<TokenCreate>,
    ) -> ApiResult<Created<TokenCreated>> {
        Ok(Created::Created(Json(service::create_token(&state, &auth.0, body.0).await?)))
    }

    /// Revoke a token; it is refused from the next request on.
    #[oai(path = "/tokens/:id", method = "delete", operation_id = "revoke_token")]
    async fn revoke_token(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<TokenInfo>> {
        Ok(Json(service::revoke_token(&state, &auth.0, &id.0).await?))
    }
}
