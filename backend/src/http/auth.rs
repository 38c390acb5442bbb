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

/// `?ticket=<ticket>`: where a browser cannot send a header (an EventSource, a download
/// link), a short-lived ticket for that one path from `POST /api/v1/auth/tickets`, never
/// the session or API token itself. Request logs record paths without query strings.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "ticket", key_in = "query", checker = "check_ticket")]
pub struct TicketAuth(pub Principal);

async fn check_ticket(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let state = req.data::<AppState>().expect("AppState is attached to every route");
    tokens::authenticate_ticket(state, &key.key, req.original_uri().path(), &remote_addr(req))
        .await
        .map_err(|e| poem::Error::from(ApiError::from(e)))
}

/// The header, or a ticket in the query where a browser cannot set one.
#[derive(SecurityScheme)]
pub enum StreamAuth {
    Bearer(BearerAuth),
    Ticket(TicketAuth),
}

impl StreamAuth {
    pub fn principal(&self) -> &Principal {
        match self {
            StreamAuth::Bearer(b) => &b.0,
            StreamAuth::Ticket(t) => &t.0,
        }
    }
}
