//! JWTs: short-lived login sessions and long-lived API tokens whose `jti` is kept in the
//! database, so that revoking one takes effect on the next request.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;
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
}

const SESSION: &str = "session";
const API: &str = "api";

fn sign(keys: &Keys, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &keys.jwt_encoding).expect("HS256 signing")
}

/// A login session for `user_id`, valid for `ttl_secs`. Returns the token and its expiry (ms).
pub fn issue_session(keys: &Keys, user_id: i64, ttl_secs: i64) -> (String, i64) {
    let now = now_ms() / 1000;
    let exp = now + ttl_secs;
    let claims = Claims {
        sub: user_id.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        kind: SESSION.into(),
        iat: now,
        exp: Some(exp),
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
    };
    sign(keys, &claims)
}

fn unauthorized(msg: &str) -> ServiceError {
    ServiceError::Unauthorized(msg.to_string())
}

/// Checks a bearer token and loads who is behind it.
pub async fn authenticate(state: &AppState, token: &str, remote_addr: &str) -> ServiceResult<Principal> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear(); // API tokens may have no expiry.
    validation.validate_exp = true;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token.trim(), &state.keys.jwt_decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("token has expired; log in again"),
            _ => unauthorized("invalid token"),
        })?
        .claims;
    let user_id: i64 = claims.sub.parse().map_err(|_| unauthorized("invalid token"))?;
    if claims.kind == SESSION && claims.exp.is_none() {
        return Err(unauthorized("invalid token"));
    }
    let user = match store::users::get(&state.db, user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Err(unauthorized("the token's user no longer exists")),
        Err(e) => return Err(e.into()),
    };
    if user.disabled != 0 {
        return Err(unauthorized("account is disabled"));
    }
    let (scopes, token_id) = match claims.kind.as_str() {
        SESSION => (None, None),
        API => {
            let row = match store::users::get_token(&state.db, &claims.jti).await {
                Ok(r) => r,
                Err(StoreError::NotFound) => return Err(unauthorized("unknown API token")),
                Err(e) => return Err(e.into()),
            };
            let now = now_ms();
            if row.user_id != user_id {
                return Err(unauthorized("invalid token"));
            }
            if row.revoked_at.is_some() {
                return Err(unauthorized("API token has been revoked"));
            }
            if row.expires_at.is_some_and(|t| t <= now) {
                return Err(unauthorized("API token has expired"));
            }
            store::users::touch_token(&state.db, &row.id, now).await?;
            (Some(row.scopes()?), Some(row.id))
        }
        _ => return Err(unauthorized("invalid token")),
    };
    Ok(Principal {
        user_id,
        username: user.username.clone(),
        role: user.role()?,
        groups: user.groups()?,
        scopes,
        token_id,
        remote_addr: remote_addr.to_string(),
    })
}
