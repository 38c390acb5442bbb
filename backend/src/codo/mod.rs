//! OpenDevOps (CODO) compatibility: `GET/POST /api/task/v2/task/accept/` and
//! `/api/task/accept`, so CODO hook scripts work by changing only URL and token.
//!
//! CODO clients send the body with no content type, `args`/`hosts` as JSON objects or as
//! Python `str(dict)` text, authenticate with an `auth_key` cookie (or query parameter,
//! or bearer header) and read `code` from the JSON answer, never the HTTP status.

pub mod pydict;

use std::collections::BTreeMap;

use api_types::Schedule;
use poem::http::StatusCode;
use poem::web::cookie::Cookie;
use poem::{handler, Body, IntoResponse, Request, Response};
use serde_json::{json, Value};

use crate::accounts::{tokens, Principal};
use crate::error::ServiceError;
use crate::http::auth::remote_addr;
use crate::http::payload::read_limited;
use crate::state::AppState;
use crate::store::{self, now_ms};
use crate::tasks::{self, Submission};

/// How long a csrf key from the GET handshake stays usable (CODO: 30 minutes).
const CSRF_TTL_MS: i64 = 30 * 60 * 1000;

/// A CODO-shaped failure: non-zero `code`, a clear `msg`, and the field when one is at fault.
#[derive(Debug)]
pub struct CodoError {
    status: StatusCode,
    code: i64,
    msg: String,
    field: Option<String>,
}

impl CodoError {
    fn invalid(field: &str, msg: impl Into<String>) -> Self {
        CodoError { status: StatusCode::BAD_REQUEST, code: -1, msg: msg.into(), field: Some(field.to_string()) }
    }
}

impl From<ServiceError> for CodoError {
    fn from(e: ServiceError) -> Self {
        let msg = e.to_string();
        let (status, code, field) = match e {
            ServiceError::Validation(f) => (StatusCode::UNPROCESSABLE_ENTITY, -1, Some(f.field)),
            ServiceError::NotFound { .. } => (StatusCode::NOT_FOUND, -1, None),
            ServiceError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, -2, None),
            ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, -2, None),
            ServiceError::Conflict(_) | ServiceError::InvalidTransition { .. } => (StatusCode::CONFLICT, -4, None),
            ServiceError::RateLimited { .. } | ServiceError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, -2, None),
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "CODO accept failed");
                return CodoError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: -5,
                    msg: "internal error".into(),
                    field: None,
                };
            }
        };
        let msg = match &field {
            Some(f) => format!("{f}: {}", msg.trim_start_matches(&format!("{f}: "))),
            None => msg,
        };
        CodoError { status, code, msg, field }
    }
}

impl IntoResponse for CodoError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "msg": self.msg});
        if let Some(f) = self.field {
            body["field"] = json!(f);
        }
        json_response(self.status, body)
    }
}

/// The CODO endpoints (their answers always carry a numeric `code`).
pub fn is_codo_path(path: &str) -> bool {
    path.starts_with("/api/task/")
}

/// A body over the size limit, answered the CODO way.
pub fn too_large(limit: usize) -> Response {
    CodoError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: -1,
        msg: format!("request body is larger than {limit} bytes"),
        field: Some("body".into()),
    }
    .into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder().status(status).content_type("application/json; charset=utf-8").body(body.to_string())
}

enum Via {
    Cookie,
    QueryOrHeader,
}

/// Finds the caller's token: `auth_key` cookie, `auth_key` query parameter, or bearer header.
fn credential(req: &Request) -> Option<(String, Via)> {
    if let Some(h) = req.header("authorization") {
        if let Some(t) = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")) {
            return Some((t.trim().to_string(), Via::QueryOrHeader));
        }
    }
    let query = req.uri().query().unwrap_or("");
    let from_query = query.split('&').find_map(|kv| kv.strip_prefix("auth_key=")).map(percent_decode);
    if let Some(t) = from_query.filter(|t| !t.is_empty()) {
        return Some((t, Via::QueryOrHeader));
    }
    req.cookie().get("auth_key").map(|c| (c.value_str().to_string(), Via::Cookie))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn caller(req: &Request, state: &AppState) -> Result<(Principal, Via), CodoError> {
    let (token, via) = credential(req).ok_or_else(|| CodoError {
        status: StatusCode::UNAUTHORIZED,
        code: -2,
        msg: "no auth_key: send the auth_key cookie, ?auth_key= or Authorization: Bearer".into(),
        field: None,
    })?;
    let who = tokens::authenticate(state, &token, &remote_addr(req)).await?;
    Ok((who, via))
}

fn state_of(req: &Request) -> &AppState {
    req.data::<AppState>().expect("AppState is attached to every route")
}

/// `GET`: the csrf handshake. Answers `{"code":0,"csrf_key":…}` and sets the `csrf_key` cookie.
#[handler]
pub async fn accept_get(req: &Request) -> Response {
    let state = state_of(req);
    let (who, _) = match caller(req, state).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let key = crate::crypto::random_token(24);
    if let Err(e) = store::misc::insert_csrf_key(&state.db, &key, who.user_id, now_ms() + CSRF_TTL_MS).await {
        return CodoError::from(ServiceError::from(e)).into_response();
    }
    let mut cookie = Cookie::new_with_str("csrf_key", &key);
    cookie.set_path("/");
    cookie.set_http_only(true);
    let mut resp = json_response(StatusCode::OK, json!({"code": 0, "msg": "csrf_key issued", "csrf_key": key}));
    if let Ok(v) = cookie.to_string().parse() {
        resp.headers_mut().append("set-cookie", v);
    }
    resp
}

/// `POST`: accepts a CODO task body and answers `{"code":0,"msg":…,"list_id":…}`.
#[handler]
pub async fn accept_post(req: &Request, body: Body) -> Response {
    match accept(req, body).await {
        Ok(id) => json_response(StatusCode::OK, json!({"code": 0, "msg": "task accepted", "list_id": id})),
        Err(e) => e.into_response(),
    }
}

async fn accept(req: &Request, body: Body) -> Result<i64, CodoError> {
    let state = state_of(req);
    let (who, via) = caller(req, state).await?;
    if matches!(via, Via::Cookie) {
        // Cookie authentication is what a forged cross-site request would ride on, so it
        // needs the one-time key from a prior GET, as CODO does.
        let key = req
            .cookie()
            .get("csrf_key")
            .map(|c| c.value_str().to_string())
            .or_else(|| req.header("x-csrf-key").map(str::to_string))
            .ok_or_else(|| CodoError {
                status: StatusCode::FORBIDDEN,
                code: -3,
                msg: "missing csrf_key: GET this URL first and send its csrf_key cookie".into(),
                field: None,
            })?;
        let ok =
            store::misc::consume_csrf_key(&state.db, &key, who.user_id, now_ms()).await.map_err(ServiceError::from)?;
        if !ok {
            return Err(CodoError {
                status: StatusCode::FORBIDDEN,
                code: -3,
                msg: "csrf_key is unknown, used or expired: GET this URL for a new one".into(),
                field: None,
            });
        }
    }
    let mut body_ref = poem::RequestBody::new(body);
    let data = read_limited(req, &mut body_ref).await.map_err(|e| CodoError {
        status: e.status(),
        code: -1,
        msg: e.to_string(),
        field: None,
    })?;
    let value: Value = serde_json::from_slice(&data)
        .map_err(|e| CodoError::invalid("body", format!("request body is not valid JSON: {e}")))?;
    let submission = submission_from_codo(&value)?;
    let task = tasks::submit(state, &who, submission).await?;
    Ok(task.id)
}

/// A field that may be a JSON value or a string holding JSON or a Python literal.
fn structured(field: &str, value: &Value) -> Result<Value, CodoError> {
    match value {
        Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
        Value::String(s) => serde_json::from_str(s)
            .or_else(|_| pydict::parse(s))
            .map_err(|e| CodoError::invalid(field, format!("{field} must be a dict, as JSON or as Python text: {e}"))),
        other => Ok(other.clone()),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn text_field(body: &Value, field: &str) -> Result<Option<String>, CodoError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar_text(v).map(Some).ok_or_else(|| CodoError::invalid(field, format!("{field} must be text"))),
    }
}

/// Turns a CODO body into a submission. Missing and malformed fields name themselves.
pub fn submission_from_codo(body: &Value) -> Result<Submission, CodoError> {
    if !body.is_object() {
        return Err(CodoError::invalid("body", "request body must be a JSON object"));
    }
    let task_name = text_field(body, "task_name")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| CodoError::invalid("task_name", "task_name is required"))?;
    let temp_id = match body.get("temp_id") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        None | Some(Value::Null) => return Err(CodoError::invalid("temp_id", "temp_id is required")),
        _ => None,
    }
    .ok_or_else(|| CodoError::invalid("temp_id", "temp_id must be a template id (a number)"))?;

    let mut args = BTreeMap::new();
    match structured("args", body.get("args").unwrap_or(&Value::Null))? {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                let text = scalar_text(&v).ok_or_else(|| {
                    CodoError::invalid(&format!("args.{k}"), format!("args.{k} must be text or a number"))
                })?;
                args.insert(k, text);
            }
        }
        _ => return Err(CodoError::invalid("args", "args must be a dict of parameter → value")),
    }

    let mut hosts = BTreeMap::new();
    match structured("hosts", body.get("hosts").unwrap_or(&Value::Null))? {
        Value::Null => {}
        Value::Object(map) => {
            for (group, v) in map {
                let list: Vec<String> = match &v {
                    Value::String(s) => s
                        .split([',', ' ', '\n', ';'])
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(String::from)
                        .collect(),
                    Value::Array(items) => items
                        .iter()
                        .filter_map(scalar_text)
                        .map(|s| s.trim().to_string())
                        .filter(|h| !h.is_empty())
                        .collect(),
                    _ => {
                        return Err(CodoError::invalid(
                            &format!("hosts.{group}"),
                            format!("hosts.{group} must be comma-separated addresses"),
                        ))
                    }
                };
                hosts.insert(group, list);
            }
        }
        _ => return Err(CodoError::invalid("hosts", "hosts must be a dict of group number → addresses")),
    }

    let schedule = match text_field(body, "schedule")?.as_deref().map(str::trim) {
        None | Some("") => Schedule::New,
        Some(s) => Schedule::parse(s).ok_or_else(|| CodoError::invalid("schedule", "schedule must be ready or new"))?,
    };

    let associated_users = match structured("associated_user", body.get("associated_user").unwrap_or(&Value::Null))? {
        Value::Null => vec![],
        Value::String(s) => s.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect(),
        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
        // CODO sends {'group-1': ['name', …]}: every listed name is associated.
        Value::Object(map) => map
            .values()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(scalar_text).collect::<Vec<_>>(),
                other => scalar_text(other).into_iter().collect(),
            })
            .collect(),
        _ => return Err(CodoError::invalid("associated_user", "associated_user must be a list or dict of names")),
    };

    let mut details = text_field(body, "details")?.unwrap_or_default();
    if let Some(s) = text_field(body, "submitter")?.filter(|s| !s.is_empty()) {
        // The accountable submitter is the token's owner; keep what the script claimed.
        if !details.is_empty() {
            details.push('\n');
        }
        details.push_str(&format!("(CODO submitter: {s})"));
    }

    Ok(Submission {
        name: Some(task_name),
        template_id: temp_id,
        args,
        hosts,
        schedule,
        exec_time: text_field(body, "exec_time")?,
        executor: text_field(body, "executor")?,
        details: Some(details),
        associated_users,
        concurrency: None,
        source: "codo",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dict_strings_become_args_and_hosts() {
        let body = json!({
            "task_name": "deploy", "temp_id": "7", "schedule": "ready",
            "args": "{'TAG': 'v1', 'N': 2}",
            "hosts": "{1: '10.0.0.1,10.0.0.2', 2: '10.0.0.3'}",
            "associated_user": "{'group-1': ['alice', 'bob']}",
            "exec_time": "2019-5-24 09:09:50", "submitter": "githook"
        });
        let s = submission_from_codo(&body).unwrap();
        assert_eq!(s.template_id, 7);
        assert_eq!(s.args["TAG"], "v1");
        assert_eq!(s.args["N"], "2");
        assert_eq!(s.hosts["1"], vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(s.hosts["2"], vec!["10.0.0.3"]);
        assert_eq!(s.associated_users, vec!["alice", "bob"]);
        assert_eq!(s.schedule, Schedule::Ready);
        assert!(s.details.unwrap().contains("githook"));
    }

    #[test]
    fn missing_and_malformed_fields_are_named() {
        let e = submission_from_codo(&json!({"temp_id": 1})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("task_name"));
        let e = submission_from_codo(&json!({"task_name": "x"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("temp_id"));
        let e = submission_from_codo(&json!({"task_name": "x", "temp_id": 1, "hosts": "{1: "})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("hosts"));
        let e = submission_from_codo(&json!({"task_name": "x", "temp_id": 1, "schedule": "now"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedule"));
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Eb+c"), "a.b c");
        assert_eq!(percent_decode("abc%"), "abc%");
    }
}
