//! The one way the UI talks to the server: JSON over `fetch`, with the session token.
//!
//! Every failure becomes an [`ApiError`] carrying the server's error body (code, message
//! and the field that caused it), so forms can show it next to that field.

use api_types::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::i18n::{self, td_string};

const TOKEN_KEY: &str = "taskgate.token";

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status; 0 when the server could not be reached.
    pub status: u16,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn local(code: &str, message: impl Into<String>) -> Self {
        ApiError { status: 0, body: ErrorBody::new(code, message) }
    }

    pub fn message(&self) -> String {
        self.body.message.clone()
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn stored_token() -> Option<String> {
    storage()?.get_item(TOKEN_KEY).ok()?.filter(|t| !t.is_empty())
}

pub fn store_token(token: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

fn unreachable(e: JsValue) -> ApiError {
    let detail = e.as_string().or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string()));
    let detail = detail.unwrap_or_default();
    ApiError::local(
        "unreachable",
        i18n::fill(td_string!(i18n::current(), common.errors.unreachable), &[("detail", &detail)]),
    )
}

/// Called when the server refuses the session (expired or revoked): back to the login page.
fn session_refused() {
    store_token(None);
    crate::session::signed_out();
}

/// Sends one request to `/api/v1{path}` and decodes the JSON answer.
pub async fn call<T: DeserializeOwned>(method: &str, path: &str, body: Option<String>) -> Result<T, ApiError> {
    let text = send(method, path, body, true).await?.unwrap_or_default();
    let text = if text.trim().is_empty() { "null" } else { text.as_str() };
    serde_json::from_str(text).map_err(|e| {
        ApiError::local(
            "bad_answer",
            i18n::fill(td_string!(i18n::current(), common.errors.bad_answer), &[("detail", &e)]),
        )
    })
}

/// A POST whose answer is not wanted: on success its body is not even read (an action on
/// a task of thousands of hosts answers with the whole run, megabytes the page would only
/// parse to drop).
pub async fn post_unread(path: &str, body: &impl Serialize) -> Result<(), ApiError> {
    send("POST", path, Some(encode(body)?), false).await.map(|_| ())
}

/// Sends a request; on success the answer's text (`None` when not `read`), else the error.
async fn send(method: &str, path: &str, body: Option<String>, read: bool) -> Result<Option<String>, ApiError> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers.set("Accept", "application/json").map_err(unreachable)?;
    // The server writes its messages (validation errors) in the reader's language.
    headers.set("Accept-Language", i18n::message_locale().unwrap_or("en")).map_err(unreachable)?;
    let token = stored_token();
    if let Some(t) = &token {
        headers.set("Authorization", &format!("Bearer {t}")).map_err(unreachable)?;
    }
    if let Some(b) = &body {
        headers.set("Content-Type", "application/json").map_err(unreachable)?;
        init.set_body(&JsValue::from_str(b));
    }
    init.set_headers(&headers);
    let window = web_sys::window().ok_or_else(|| ApiError::local("unreachable", "no window"))?;
    let answer =
        JsFuture::from(window.fetch_with_str_and_init(&format!("/api/v1{path}"), &init)).await.map_err(unreachable)?;
    let response: web_sys::Response = answer.dyn_into().map_err(unreachable)?;
    let status = response.status();
    if (200..300).contains(&status) && !read {
        return Ok(None);
    }
    let text = JsFuture::from(response.text().map_err(unreachable)?).await.map_err(unreachable)?;
    let text = text.as_string().unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(Some(text));
    }
    if status == 401 && token.is_some() {
        session_refused();
    }
    let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| {
        ErrorBody::new("http", i18n::fill(td_string!(i18n::current(), common.errors.http), &[("status", &status)]))
    });
    Err(ApiError { status, body })
}

fn encode(body: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(body).map_err(|e| ApiError::local("encode", e.to_string()))
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    call("GET", path, None).await
}

pub async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiError> {
    call("POST", path, Some(encode(body)?)).await
}

pub async fn put<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiError> {
    call("PUT", path, Some(encode(body)?)).await
}

pub async fn delete(path: &str) -> Result<(), ApiError> {
    call::<serde_json::Value>("DELETE", path, None).await.map(|_| ())
}

/// A fresh ticket for `path` (`/api/v1/…`), to pass as `ticket=` in a URL the browser
/// opens by itself (an EventSource, a download): such a URL never carries the session token.
pub async fn ticket(path: &str) -> Result<String, ApiError> {
    let answer: api_types::Ticket = post("/auth/tickets", &api_types::TicketRequest { path: path.to_string() }).await?;
    Ok(q(&answer.ticket))
}

/// Percent-encodes one query-string value.
pub fn q(value: &str) -> String {
    js_sys::encode_uri_component(value).as_string().unwrap_or_default()
}
