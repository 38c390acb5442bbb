//! The CODO csrf handshake: one-time keys, which requests may ride on cookies, and the
//! sweep of expired keys.
//!
//! A browser attaches cookies to cross-site requests by itself, so a key read from the
//! `csrf_key` cookie proves nothing when a browser sends it. The key counts when it comes
//! in the `X-Csrf-Key` header or the body's `csrf_key` field (and equals the cookie when
//! one is sent: double submit); a key sent only as a cookie is accepted only from a
//! client that shows no sign of being a browser, such as CODO's Python scripts.

use std::time::Duration;

use poem::http::StatusCode;
use poem::web::cookie::{Cookie, SameSite};
use poem::Request;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::CodoError;
use crate::error::ServiceError;
use crate::state::AppState;
use crate::store::{self, now_ms};

/// How long a key from the GET handshake stays usable (CODO: 30 minutes).
pub const TTL: Duration = Duration::from_secs(30 * 60);
/// Keys a user may hold at once; asking for more drops the oldest.
pub const MAX_KEYS_PER_USER: i64 = 50;
/// How often expired keys are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);
const HEADER: &str = "x-csrf-key";
const COOKIE: &str = "csrf_key";

fn refused(msg: &str) -> CodoError {
    CodoError { status: StatusCode::FORBIDDEN, code: -3, msg: msg.to_string(), field: None }
}

/// `scheme://host[:port]` of a URL, lower-cased, without path.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty())?;
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

/// True when `url` (an `Origin` or `Referer`) names this server: its public URL, or the
/// host the request was sent to.
fn is_this_server(url: &str, req: &Request, state: &AppState) -> bool {
    let Some(origin) = origin_of(url) else { return false };
    if state.settings.public_url.as_deref().and_then(origin_of).is_some_and(|o| o == origin) {
        return true;
    }
    let host = req.header("host").map(str::to_ascii_lowercase);
    host.is_some_and(|h| ["http", "https"].iter().any(|s| origin == format!("{s}://{h}")))
}

/// Refuses a cookie-authenticated request that a browser says comes from another site.
pub fn refuse_cross_site(req: &Request, state: &AppState) -> Result<(), CodoError> {
    let site = req.header("sec-fetch-site").map(str::to_ascii_lowercase);
    let foreign_site = matches!(site.as_deref(), Some("cross-site" | "same-site"));
    let foreign_origin = req.header("origin").is_some_and(|o| !is_this_server(o, req, state));
    let foreign_referer =
        req.header("origin").is_none() && req.header("referer").is_some_and(|r| !is_this_server(r, req, state));
    if foreign_site || foreign_origin || foreign_referer {
        tracing::info!(origin = ?req.header("origin"), site = ?site, "cross-site CODO request refused");
        return Err(refused("cross-site request refused: a cookie-authenticated request must come from this server's own pages or from a script"));
    }
    Ok(())
}

/// True when the request carries what browsers add and scripts do not.
fn looks_like_a_browser(req: &Request) -> bool {
    ["origin", "sec-fetch-site", "sec-fetch-mode", "referer"].iter().any(|h| req.header(h).is_some())
}

/// Finds and uses up the key of a cookie-authenticated POST.
pub async fn check(req: &Request, body: &Value, state: &AppState, user_id: i64) -> Result<(), CodoError> {
    let cookie = req.cookie().get(COOKIE).map(|c| c.value_str().to_string());
    let submitted = match (req.header(HEADER), body.get(COOKIE)) {
        (Some(h), _) => Some(h.to_string()),
        (None, Some(Value::String(b))) => Some(b.clone()),
        (None, Some(_)) => return Err(CodoError::invalid("csrf_key", "csrf_key must be text")),
        (None, None) => None,
    };
    let key = match (submitted, cookie) {
        (Some(s), Some(c)) if !bool::from(s.as_bytes().ct_eq(c.as_bytes())) => {
            return Err(refused("csrf_key in the header or body differs from the csrf_key cookie"));
        }
        (Some(s), _) => s,
        (None, Some(_)) if looks_like_a_browser(req) => {
            return Err(refused(
                "csrf_key only as a cookie is not accepted from a browser: send it in the X-Csrf-Key header or the body's csrf_key field",
            ));
        }
        (None, Some(c)) => c,
        (None, None) => return Err(refused(
            "missing csrf_key: GET this URL first and send its csrf_key in the X-Csrf-Key header (or as the cookie)",
        )),
    };
    if !store::misc::consume_csrf_key(&state.db, &key, user_id, now_ms()).await.map_err(ServiceError::from)? {
        return Err(refused("csrf_key is unknown, used or expired: GET this URL for a new one"));
    }
    Ok(())
}

/// Issues a key for `user_id` and returns it with its `Set-Cookie` value.
pub async fn issue(state: &AppState, user_id: i64) -> Result<(String, String), CodoError> {
    let key = crate::crypto::random_token(24);
    let expires_at = now_ms() + TTL.as_millis() as i64;
    store::misc::insert_csrf_key(&state.db, &key, user_id, expires_at, MAX_KEYS_PER_USER)
        .await
        .map_err(ServiceError::from)?;
    let mut cookie = Cookie::new_with_str(COOKIE, &key);
    cookie.set_path("/api/task/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_max_age(TTL);
    if state.settings.public_url.as_deref().is_some_and(|u| u.to_ascii_lowercase().starts_with("https://")) {
        cookie.set_secure(true);
    }
    Ok((key, cookie.to_string()))
}

/// Deletes expired keys now and then every few minutes, until shutdown.
pub async fn sweep(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match store::misc::sweep_csrf_keys(&state.db, now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired CODO csrf keys swept"),
            Err(e) => tracing::warn!(error = %e, "sweeping CODO csrf keys failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_scheme_host_and_port_only() {
        assert_eq!(origin_of("https://Tasks.Example.com/x?y").as_deref(), Some("https://tasks.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("http:///x"), None);
    }
}
