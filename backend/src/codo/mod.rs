//! OpenDevOps (CODO) compatibility: `GET/POST /api/task/v2/task/accept/` and
//! `/api/task/accept`, so CODO hook scripts work by changing only URL and token.
//!
//! CODO clients send the body with no content type, `args`/`hosts` as JSON objects or as
//! Python `str(dict)` text, authenticate with an `auth_key` cookie (or query parameter,
//! or bearer header) and read `code` from the JSON answer, never the HTTP status.

pub mod csrf;
pub mod pydict;

use std::collections::BTreeMap;

use api_types::{validate, Schedule, Scope};
use poem::http::StatusCode;
use poem::{handler, Body, IntoResponse, Request, Response};
use serde_json::{json, Value};

use crate::accounts::{tokens, Principal};
use crate::error::ServiceError;
use crate::http::auth::remote_addr;
use crate::http::payload::read_limited;
use crate::state::AppState;
use crate::tasks::{self, Submission};

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

/// Input refused before routing (a NUL in the query string), answered the CODO way.
pub fn invalid_input(field: &str, message: &str) -> Response {
    CodoError::from(ServiceError::validation(field, message.to_string())).into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder().status(status).content_type("application/json; charset=utf-8").body(body.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Cookie,
    Query,
    Header,
}

/// The `auth_key` query parameter's value, if it has one.
fn query_key(req: &Request) -> Option<String> {
    let query = req.uri().query().unwrap_or("").as_bytes();
    form_urlencoded::parse(query).find(|(k, _)| k == "auth_key").map(|(_, v)| v.into_owned()).filter(|t| !t.is_empty())
}

/// Finds the caller's token: `auth_key` cookie, `auth_key` query parameter, or bearer header.
fn credential(req: &Request) -> Option<(String, Via)> {
    if let Some(h) = req.header("authorization") {
        if let Some(t) = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")) {
            return Some((t.trim().to_string(), Via::Header));
        }
    }
    if let Some(t) = query_key(req) {
        return Some((t, Via::Query));
    }
    req.cookie().get("auth_key").map(|c| (c.value_str().to_string(), Via::Cookie))
}

/// Authenticates the caller and checks that it may submit tasks, before anything is parsed.
/// A cookie-authenticated request that a browser marks as cross-site is refused first.
async fn caller(req: &Request, state: &AppState) -> Result<(Principal, Via), CodoError> {
    let (token, via) = credential(req).ok_or_else(|| CodoError {
        status: StatusCode::UNAUTHORIZED,
        code: -2,
        msg: "no auth_key: send the auth_key cookie, ?auth_key= or Authorization: Bearer".into(),
        field: None,
    })?;
    if via == Via::Cookie {
        csrf::refuse_cross_site(req, state)?;
    }
    // An address is written down by proxies, logs and histories: it may carry a script's
    // API token (which can be scoped and revoked on its own), never a login session, even
    // beside another credential. The answer is the same whether the session still holds.
    if query_key(req).is_some_and(|t| tokens::is_session_token(state, &t)) {
        return Err(CodoError {
            status: StatusCode::UNAUTHORIZED,
            code: -2,
            msg: "?auth_key= takes an API token, never a login session token".into(),
            field: None,
        });
    }
    let who = tokens::authenticate(state, &token, &remote_addr(req)).await?;
    who.require(Scope::TaskSubmit)?;
    Ok((who, via))
}

fn state_of(req: &Request) -> &AppState {
    req.data::<AppState>().expect("AppState is attached to every route")
}

/// `GET`: the csrf handshake. Answers `{"code":0,"csrf_key":…}` and sets the `csrf_key` cookie.
#[handler]
pub async fn accept_get(req: &Request) -> Response {
    match handshake(req).await {
        Ok((key, cookie)) => {
            let mut resp = json_response(StatusCode::OK, json!({"code": 0, "msg": "csrf_key issued", "csrf_key": key}));
            if let Ok(v) = cookie.parse() {
                resp.headers_mut().append("set-cookie", v);
            }
            // The key is a secret of this client: no cache may keep the answer.
            resp.headers_mut().insert("cache-control", poem::http::HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn handshake(req: &Request) -> Result<(String, String), CodoError> {
    let state = state_of(req);
    let (who, _) = caller(req, state).await?;
    csrf::issue(state, who.user_id).await
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
    let mut body_ref = poem::RequestBody::new(body);
    let data = read_limited(req, &mut body_ref).await.map_err(|e| CodoError {
        status: e.status(),
        code: -1,
        msg: e.to_string(),
        field: None,
    })?;
    // serde_json stops at 128 levels of nesting, so this cannot overflow the stack.
    let value: Value = serde_json::from_slice(&data)
        .map_err(|e| CodoError::invalid("body", format!("request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(CodoError::invalid("body", "request body must be a JSON object"));
    }
    if via == Via::Cookie {
        // Cookie authentication is what a forged cross-site request would ride on, so it
        // needs the one-time key from a prior GET, as CODO does.
        csrf::check(req, &value, state, who.user_id).await?;
    }
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

    // A plain `alice, bob` is a list of names, not a literal to parse.
    let users = match body.get("associated_user") {
        Some(Value::String(s)) if !s.trim_start().starts_with(['{', '[', '(', '\'', '"']) => Value::String(s.clone()),
        Some(other) => structured("associated_user", other)?,
        None => Value::Null,
    };
    let associated_users = match users {
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
        validate::no_nul("submitter", &s).map_err(|e| CodoError::from(ServiceError::from(e)))?;
        // The accountable submitter is the token's owner; keep what the script claimed.
        if !details.is_empty() {
            details.push('\n');
        }
        details.push_str(&format!("(CODO submitter: {s})"));
    }

    let submission = Submission {
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
        external_args: vec![],
        source: "codo",
    };
    refuse_nul(&submission)?;
    Ok(submission)
}

/// PostgreSQL text cannot hold NUL, and a Python string can carry one (`'\x00'`): refuse
/// it in every text the body gave, naming the field.
fn refuse_nul(s: &Submission) -> Result<(), CodoError> {
    let mut texts: Vec<(String, &str)> = vec![];
    for (field, value) in
        [("task_name", &s.name), ("exec_time", &s.exec_time), ("executor", &s.executor), ("details", &s.details)]
    {
        texts.push((field.to_string(), value.as_deref().unwrap_or_default()));
    }
    for (k, v) in &s.args {
        texts.extend([(format!("args.{k}"), k.as_str()), (format!("args.{k}"), v.as_str())]);
    }
    for (group, list) in &s.hosts {
        texts.push((format!("hosts.{group}"), group.as_str()));
        texts.extend(list.iter().enumerate().map(|(i, h)| (format!("hosts.{group}[{i}]"), h.as_str())));
    }
    texts.extend(s.associated_users.iter().enumerate().map(|(i, u)| (format!("associated_user[{i}]"), u.as_str())));
    for (field, value) in texts {
        validate::no_nul(&field, value).map_err(|e| CodoError::from(ServiceError::from(e)))?;
    }
    Ok(())
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
        let mut plain = body.clone();
        plain["associated_user"] = json!(" alice, bob");
        assert_eq!(submission_from_codo(&plain).unwrap().associated_users, vec!["alice", "bob"]);
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
}
