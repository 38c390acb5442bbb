//! JWTs: short-lived login sessions and long-lived API tokens whose `jti` is kept in the
//! database, so that revoking one takes effect on the next request.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::users::{TokenRow, UserRow};
use crate::store::{self, now_ms, StoreError};

use super::Principal;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// User id.
    sub: String,
    jti: String,
    /// `session` or `api`.
    kind: String,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    /// Sessions: the user's session epoch when issued (absent in sessions issued before
    /// epochs existed, which count as epoch 0).
    #[serde(default)]
    epoch: i64,
    /// Tickets: the one path the ticket opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// Tickets: the expiry (s) of the session or API token the ticket was taken with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pexp: Option<i64>,
    /// Tickets: `session` or `api`, what the ticket was taken with (`jti` is then that
    /// API token's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via: Option<String>,
    /// Tickets: the ticket's own id, recorded when it is used (once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
}

const SESSION: &str = "session";
const API: &str = "api";
const TICKET: &str = "ticket";

/// How long a ticket may be used to open what it names. A stream opened with it stays
/// open as long as the credential it was taken with holds.
pub const TICKET_TTL_SECS: i64 = 60;

fn sign(keys: &Keys, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &keys.jwt_encoding).expect("HS256 signing")
}

/// A login session for `user`, valid for `ttl_secs`. Returns the token and its expiry (ms).
pub fn issue_session(keys: &Keys, user: &UserRow, ttl_secs: i64) -> (String, i64) {
    let now = now_ms() / 1000;
    let exp = now + ttl_secs;
    let claims = Claims {
        sub: user.id.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        kind: SESSION.into(),
        iat: now,
        exp: Some(exp),
        epoch: user.session_epoch,
        path: None,
        pexp: None,
        via: None,
        tid: None,
    };
    (sign(keys, &claims), exp * 1000)
}

/// An API token; its id is stored with its scopes and expiry.
pub fn issue_api_token(keys: &Keys, user_id: i64, token_id: &str, expires_at_ms: Option<i64>) -> String {
    let claims = Claims {
        sub: user_id.to_string(),
        jti: token_id.to_string(),
        kind: API.into(),
        iat: now_ms() / 1000,
        exp: expires_at_ms.map(|ms| ms / 1000),
        epoch: 0,
        path: None,
        pexp: None,
        via: None,
        tid: None,
    };
    sign(keys, &claims)
}

/// A ticket for `path` only, for [`TICKET_TTL_SECS`], taken with `who`'s credential: what a
/// browser puts in a URL where it cannot send a header (an EventSource, a download link),
/// instead of the session token itself. It is good for one use; it is refused as a bearer
/// token, on every other path, and once the credential it was taken with no longer holds.
/// Returns the ticket and its expiry (ms).
pub fn issue_ticket(keys: &Keys, who: &Principal, path: &str) -> (String, i64) {
    let now = now_ms() / 1000;
    let exp = now + TICKET_TTL_SECS;
    let (via, jti, epoch) = match (&who.token_id, who.session_epoch) {
        (Some(id), _) => (API, id.clone(), 0),
        (None, epoch) => (SESSION, uuid::Uuid::new_v4().to_string(), epoch.unwrap_or(0)),
    };
    let claims = Claims {
        sub: who.user_id.to_string(),
        jti,
        kind: TICKET.into(),
        iat: now,
        exp: Some(exp),
        epoch,
        path: Some(path.to_string()),
        pexp: who.expires_at.map(|ms| ms / 1000),
        via: Some(via.into()),
        tid: Some(uuid::Uuid::new_v4().to_string()),
    };
    (sign(keys, &claims), exp * 1000)
}

fn unauthorized(msg: &'static str) -> ServiceError {
    ServiceError::Unauthorized(msg.into())
}

/// The credential a request came with, once its signature has been checked.
enum Credential<'a> {
    Session { epoch: i64 },
    ApiToken { id: &'a str },
}

/// The user behind a credential, if the credential still holds: the user exists and is
/// enabled, a session belongs to the user's current epoch, and an API token is neither
/// revoked nor expired (its row is returned).
async fn still_holds(
    state: &AppState,
    user_id: i64,
    credential: Credential<'_>,
) -> ServiceResult<(UserRow, Option<TokenRow>)> {
    let user = match store::users::get(&state.db, user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Err(unauthorized("the token's user no longer exists")),
        Err(e) => return Err(e.into()),
    };
    if user.disabled != 0 {
        return Err(unauthorized("account is disabled"));
    }
    match credential {
        Credential::Session { epoch } => {
            if epoch != user.session_epoch {
                return Err(unauthorized(
                    "this session was ended by a change of password, role or account status; log in again",
                ));
            }
            Ok((user, None))
        }
        Credential::ApiToken { id } => {
            let row = match store::users::get_token(&state.db, id).await {
                Ok(r) => r,
                Err(StoreError::NotFound) => return Err(unauthorized("unknown API token")),
                Err(e) => return Err(e.into()),
            };
            if row.user_id != user_id {
                return Err(unauthorized("invalid token"));
            }
            if row.revoked_at.is_some() {
                return Err(unauthorized("API token has been revoked"));
            }
            if row.expires_at.is_some_and(|t| t <= now_ms()) {
                return Err(unauthorized("API token has expired"));
            }
            Ok((user, Some(row)))
        }
    }
}

/// The claims of a token this server signed, expired or not.
fn verify(state: &AppState, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear(); // API tokens may have no expiry.
                                             // Expiry is checked by the callers against the server's clock (`now_ms`), the one that set it.
    validation.validate_exp = false;
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(token.trim(), &state.keys.jwt_decoding, &validation).ok().map(|d| d.claims)
}

/// Whether `token` is a login session token this server signed, whether it still holds or
/// not (an answer that tells nothing about a leaked session).
pub fn is_session_token(state: &AppState, token: &str) -> bool {
    verify(state, token).is_some_and(|c| c.kind == SESSION)
}

fn decode(state: &AppState, token: &str) -> ServiceResult<Claims> {
    let claims = verify(state, token).ok_or_else(|| unauthorized("invalid token"))?;
    if claims.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now_ms()) {
        return Err(unauthorized("token has expired; log in again"));
    }
    Ok(claims)
}

/// Checks a bearer token and loads who is behind it. Tickets are refused here.
pub async fn authenticate(state: &AppState, token: &str, remote_addr: &str) -> ServiceResult<Principal> {
    let claims = decode(state, token)?;
    let credential = match (claims.kind.as_str(), claims.exp) {
        (SESSION, Some(_)) => Credential::Session { epoch: claims.epoch },
        (API, _) => Credential::ApiToken { id: &claims.jti },
        _ => return Err(unauthorized("invalid token")),
    };
    principal(state, &claims, credential, claims.exp, remote_addr).await
}

/// Checks a ticket from a URL: it must be one, unexpired, unused, for exactly `path`, and
/// the credential it was taken with must still hold; it is then used up (a URL that leaks
/// from a log or a history is worth nothing by then). The principal is that credential's
/// (its scopes, its expiry), so a stream opened with the ticket ends when it does.
pub async fn authenticate_ticket(
    state: &AppState,
    ticket: &str,
    path: &str,
    remote_addr: &str,
) -> ServiceResult<Principal> {
    let claims = decode(state, ticket)?;
    if claims.kind != TICKET {
        return Err(unauthorized("a URL takes a ticket (POST /api/v1/auth/tickets), never a session or API token"));
    }
    if claims.path.as_deref() != Some(path) {
        return Err(unauthorized("this ticket is for another path"));
    }
    let credential = match claims.via.as_deref() {
        Some(SESSION) => Credential::Session { epoch: claims.epoch },
        Some(API) => Credential::ApiToken { id: &claims.jti },
        _ => return Err(unauthorized("invalid token")),
    };
    let (Some(tid), Some(exp)) = (claims.tid.as_deref(), claims.exp) else {
        return Err(unauthorized("invalid token"));
    };
    let who = principal(state, &claims, credential, claims.pexp, remote_addr).await?;
    if !store::users::use_ticket(&state.db, tid, exp.saturating_mul(1000), now_ms()).await? {
        return Err(unauthorized("this ticket was used already; take a new one"));
    }
    Ok(who)
}

async fn principal(
    state: &AppState,
    claims: &Claims,
    credential: Credential<'_>,
    expires_at_secs: Option<i64>,
    remote_addr: &str,
) -> ServiceResult<Principal> {
    let user_id: i64 = claims.sub.parse().map_err(|_| unauthorized("invalid token"))?;
    if expires_at_secs.is_some_and(|exp| exp.saturating_mul(1000) <= now_ms()) {
        return Err(unauthorized("token has expired; log in again"));
    }
    let (user, token_row) = still_holds(state, user_id, credential).await?;
    let (scopes, token_id, session_epoch) = match &token_row {
        Some(row) => {
            // Use is recorded at most once a minute (as the store's update says again): a
            // busy script's reads stay reads, and its writes do not queue twice.
            let now = now_ms();
            if row.last_used_at.is_none_or(|at| at < now - store::users::TOKEN_USE_RESOLUTION_MS) {
                store::users::touch_token(&state.db, &row.id, now).await?;
            }
            (Some(row.scopes()?), Some(row.id.clone()), None)
        }
        None => (None, None, Some(user.session_epoch)),
    };
    Ok(Principal {
        user_id,
        username: user.username.clone(),
        role: user.role()?,
        groups: user.groups()?,
        scopes,
        token_id,
        session_epoch,
        expires_at: expires_at_secs.map(|s| s.saturating_mul(1000)),
        remote_addr: remote_addr.to_string(),
    })
}

/// Checks again that the credential a request came with still holds, for requests that
/// last (the live event stream): revoking the token, disabling the user or ending their
/// sessions ends them too. Principals the server made for itself always hold.
pub async fn recheck(state: &AppState, who: &Principal) -> ServiceResult<()> {
    if who.expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(unauthorized("token has expired; log in again"));
    }
    let credential = match (&who.token_id, who.session_epoch) {
        (Some(id), _) => Credential::ApiToken { id },
        (None, Some(epoch)) => Credential::Session { epoch },
        (None, None) => return Ok(()),
    };
    still_holds(state, who.user_id, credential).await.map(|_| ())
}
