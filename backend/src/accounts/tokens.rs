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
}

const SESSION: &str = "session";
const API: &str = "api";

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
    };
    sign(keys, &claims)
}

fn unauthorized(msg: &str) -> ServiceError {
    ServiceError::Unauthorized(msg.to_string())
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

/// Checks a bearer token and loads who is behind it.
pub async fn authenticate(state: &AppState, token: &str, remote_addr: &str) -> ServiceResult<Principal> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear(); // API tokens may have no expiry.
                                             // Expiry is checked below against the server's clock (`clock`), the one that set it.
    validation.validate_exp = false;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token.trim(), &state.keys.jwt_decoding, &validation)
        .map_err(|_| unauthorized("invalid token"))?
        .claims;
    if claims.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now_ms()) {
        return Err(unauthorized("token has expired; log in again"));
    }
    let user_id: i64 = claims.sub.parse().map_err(|_| unauthorized("invalid token"))?;
    let credential = match (claims.kind.as_str(), claims.exp) {
        (SESSION, Some(_)) => Credential::Session { epoch: claims.epoch },
        (API, _) => Credential::ApiToken { id: &claims.jti },
        _ => return Err(unauthorized("invalid token")),
    };
    let (user, token_row) = still_holds(state, user_id, credential).await?;
    let (scopes, token_id, session_epoch) = match &token_row {
        Some(row) => {
            store::users::touch_token(&state.db, &row.id, now_ms()).await?;
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
        expires_at: claims.exp.map(|s| s.saturating_mul(1000)),
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
