//! Bearer authentication for the OpenAPI routes.

use poem::Request;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

use super::error::ApiError;
use crate::accounts::{tokens, Principal};
use crate::state::AppState;

/// `Authorization: Bearer <token>`: a login session from `/api/v1/auth/login` or an API token.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

pub fn remote_addr(req: &Request) -> String {
    req.remote_addr().as_socket_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req.data::<AppState>().expect("AppState is attached to every route");
    tokens::authenticate(state, &bearer.token, &remote_addr(req))
        .await
        .map_err(|e| poem::Error::from(ApiError::from(e)))
}

/// `?access_token=<token>`: for the event stream only, because a browser's EventSource
/// cannot send headers. Request logs record paths without query strings.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "access_token", key_in = "query", checker = "check_query_token")]
pub struct QueryTokenAuth(pub Principal);

async fn check_query_token(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    check_bearer(req, Bearer { token: key.key }).await
}

/// The header, or the query parameter where a browser cannot set one.
#[derive(SecurityScheme)]
pub enum StreamAuth {
    Bearer(BearerAuth),
    Query(QueryTokenAuth),
}

impl StreamAuth {
    pub fn principal(&self) -> &Principal {
        match self {
            StreamAuth::Bearer(b) => &b.0,
            StreamAuth::Query(q) => &q.0,
        }
    }
}
