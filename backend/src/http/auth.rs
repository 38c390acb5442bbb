//! Bearer authentication for the OpenAPI routes.

use poem::Request;
use poem_openapi::auth::Bearer;
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
