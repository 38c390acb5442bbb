//! OpenDevOps (CODO) compatibility: the accept endpoint, its csrf handshake, Python-dict
//! bodies, and the reference CODO script run unchanged but for URL and token.

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

pub(crate) const ACCEPT: &str = "/api/task/v2/task/accept/";

/// A token with only `task:submit`, as a CODO hook script would hold.
pub(crate) async fn hook_token(app: &TestApp) -> String {
    app.user("githook", "operator", &[]).await;
    let session = app.login("githook", crate::helpers::PASSWORD).await;
    let t = app.post("/api/v1/tokens", &session, &json!({"name": "codo", "scopes": ["task:submit"]})).await.expect(201);
    t["token"].as_str().unwrap().to_string()
}

/// A CODO-style template: group 1 runs a command reading TAG, GIT_URL and APP_NAME.
pub(crate) async fn codo_template(app: &TestApp) -> i64 {
    let t = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "web release", "steps": [
                {"name": "deploy", "group": "1", "script": "deploy {{ APP_NAME }} {{ GIT_URL }} {{ TAG }}"}
            ]}),
        )
        .await
        .expect(201);
    t["id"].as_i64().unwrap()
}

/// GET with the `auth_key` cookie: returns the csrf key from the body and checks the cookie.
pub(crate) async fn handshake(app: &TestApp, token: &str) -> String {
    let resp = app.client.get(app.url(ACCEPT)).header(COOKIE, format!("auth_key={token}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 0);
    let key = body["csrf_key"].as_str().unwrap().to_string();
    assert!(set_cookie.starts_with(&format!("csrf_key={key}")), "csrf cookie set: {set_cookie}");
    key
}

/// POSTs a raw body the way `requests.post(url, data=json.dumps(body), cookies=…)` does:
/// no content type.
pub(crate) async fn post_raw(app: &TestApp, path: &str, cookie: Option<String>, body: &str) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).body(body.to_string());
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// POSTs `body` as JSON with `token` in the Authorization header: the status and the answer.
pub(crate) async fn post_bearer(app: &TestApp, path: &str, token: &str, body: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn python_dict_strings_with_the_csrf_handshake_create_a_task(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let csrf = handshake(&app, &token).await;
    let body = json!({
        "task_name": "DBTT", "temp_id": template.to_string(), "submitter": "githook", "executor": "githook",
        "args": "{'TAG': 'qa-dbtt-1', 'GIT_URL': 'git@gitlab.x:ops/dbtt.git', 'APP_NAME': u'\\u7248\\u672c'}",
        "hosts": "{1: '10.0.0.1,10.0.0.2'}",
        "associated_user": "{'group-1': ['alice']}",
        "exec_time": "2030-5-24 09:09:50", "schedule": "ready", "details": "git hook auto exec"
    });
    let (status, answer) =
        post_raw(&app, ACCEPT, Some(format!("auth_key={token}; csrf_key={csrf}")), &body.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "answer: {answer}");
    let id = answer["list_id"].as_i64().expect("list_id");
    let task = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    assert_eq!(task["name"], "DBTT");
    assert_eq!(task["status"], "ready");
    assert_eq!(task["source"], "codo");
    assert_eq!(task["submitter"], "githook");
    assert_eq!(task["args"], json!({"TAG": "qa-dbtt-1", "GIT_URL": "git@gitlab.x:ops/dbtt.git", "APP_NAME": "版本"}));
    assert_eq!(task["hosts"], json!({"1": ["10.0.0.1", "10.0.0.2"]}));
    assert_eq!(task["associated_users"], json!(["alice"]));
    assert_eq!(task["exec_time"], "2030-05-24T09:09:50.000Z");

    // The key is single-use: replaying it is refused.
    let (status, answer) =
        post_raw(&app, ACCEPT, Some(format!("auth_key={token}; csrf_key={csrf}")), &body.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "answer: {answer}");
}

async fn json_object_bodies_work_with_bearer_or_query_token_and_no_csrf(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let body = json!({
        "task_name": "json body", "temp_id": template,
        "args": {"TAG": "v2", "GIT_URL": "g", "APP_NAME": "web"},
        "hosts": {"1": "10.0.0.7"}, "schedule": "new"
    });
    let (_, answer) = post_bearer(&app, "/api/task/accept", &token, &body.to_string()).await;
    assert_eq!(answer["code"], 0, "answer: {answer}");
    let task = app.get(&format!("/api/v1/tasks/{}", answer["list_id"]), &app.admin_token).await.expect(200);
    assert_eq!(task["status"], "new");
    assert_eq!(task["hosts"], json!({"1": ["10.0.0.7"]}));

    let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={token}"), None, &body.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "answer: {answer}");
}

async fn cookie_posts_without_a_csrf_key_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let body = json!({"task_name": "x", "temp_id": template, "args": "{'TAG': 'a', 'GIT_URL': 'g', 'APP_NAME': 'w'}", "hosts": "{1: 'h'}"});
    let (status, answer) = post_raw(&app, ACCEPT, Some(format!("auth_key={token}")), &body.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "answer: {answer}");
    assert!(answer["msg"].as_str().unwrap().contains("csrf_key"));
    let (_, answer) =
        post_raw(&app, ACCEPT, Some(format!("auth_key={token}; csrf_key=made-up")), &body.to_string()).await;
    assert_eq!(answer["code"], -3);
    assert_eq!(app.get("/api/v1/tasks", &app.admin_token).await.expect(200)["total"], 0);
}

async fn every_codo_error_is_a_nonzero_code_with_a_clear_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let base = json!({"task_name": "t", "temp_id": template, "args": "{'TAG': 'a', 'GIT_URL': 'g', 'APP_NAME': 'w'}", "hosts": "{1: '10.0.0.1'}"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b.to_string()
    };
    let cases = [
        (with("task_name", Value::Null), "task_name"),
        (with("temp_id", Value::Null), "temp_id"),
        (with("temp_id", json!(999)), "template_id"),
        (with("hosts", json!("{2: '10.0.0.1'}")), "hosts.2"),
        (with("hosts", json!("{}")), "hosts.1"),
        (with("hosts", json!("{1: '10.0.0.1'")), "hosts"),
        (with("args", json!("{'TAG': 'a'}")), "args.APP_NAME"),
        (with("args", json!("{'TAG': 'a', 'GIT_URL': 'g', 'APP_NAME': 'w', 'EXTRA': 1}")), "args.EXTRA"),
        (with("exec_time", json!("soon")), "exec_time"),
        (with("schedule", json!("later")), "schedule"),
        ("{not json".to_string(), "body"),
        ("[1, 2]".to_string(), "body"),
    ];
    for (body, field) in cases {
        let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={token}"), None, &body).await;
        assert!((400..500).contains(&status), "{field}: status {status}, answer {answer}");
        assert_ne!(answer["code"], 0, "{field}: {answer}");
        assert_eq!(answer["field"], field, "answer: {answer}");
        assert!(answer["msg"].as_str().is_some_and(|m| m.len() > 10), "clear message: {answer}");
    }
    let (status, answer) = post_raw(&app, ACCEPT, None, &base.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (401, json!(-2)));
    let huge = format!("{{\"task_name\": \"{}\"}}", "x".repeat(300 * 1024));
    let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={token}"), None, &huge).await;
    assert_eq!((status, answer["code"].clone(), answer["field"].clone()), (413, json!(-1), json!("body")));
    let (_, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key=forged"), None, &base.to_string()).await;
    assert_eq!(answer["code"], -2);
    // A login session in the address (which proxies and logs keep) is refused, live or
    // ended, padded or not, alone or beside a working header, with one answer; nothing is made.
    let refused = json!([401, -2, "?auth_key= takes an API token, never a login session token"]);
    let live = app.user("sam", "operator", &[]).await;
    let ended = app.user("kim", "operator", &[]).await;
    let kim = app.get("/api/v1/me", &ended).await.expect(200)["id"].clone();
    app.put(&format!("/api/v1/users/{kim}"), &app.admin_token, &json!({"password": "reset-password-2"}))
        .await
        .expect(200);
    for session in [live.clone(), ended.clone(), format!("{live}%0A"), format!("%20{ended}")] {
        let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={session}"), None, &base.to_string()).await;
        assert_eq!(json!([status, answer["code"], answer["msg"]]), refused, "answer: {answer}");
        let (status, answer) =
            post_bearer(&app, &format!("{ACCEPT}?auth_key={session}"), &token, &base.to_string()).await;
        assert_eq!(json!([status, answer["code"], answer["msg"]]), refused, "beside a header: {answer}");
    }
    // The session itself still works where it belongs (the header), so the refusal is the address's.
    let resp = app.client.get(app.url(ACCEPT)).bearer_auth(&live).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.get("/api/v1/tasks", &app.admin_token).await.expect(200)["total"], 0);
    // A ticket is no token for this endpoint; an API token with a line end after it still is.
    let ticket = app.post("/api/v1/auth/tickets", &live, &json!({"path": "/api/v1/tasks/changes"})).await.expect(201)
        ["ticket"]
        .clone();
    let ticket = ticket.as_str().unwrap();
    let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={ticket}"), None, &base.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (401, json!(-2)), "answer: {answer}");
    assert_ne!(answer["msg"], refused[2], "answer: {answer}");
    let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={token}%0A"), None, "[]").await;
    assert_eq!((status, answer["field"].clone()), (400, json!("body")), "the token was taken: {answer}");
    let resp = app.client.get(app.url(ACCEPT)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], -2);
}

async fn the_codo_python_script_works_with_only_url_and_token_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let original =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/codo/post_task.py")).unwrap();
    let url_line = "accept_task_url = 'http://127.0.0.1:8080/api/task/v2/task/accept/'";
    let token_line = "auth_key = 'PASTE-YOUR-TASKGATE-API-TOKEN-HERE'";
    assert!(original.contains(url_line) && original.contains(token_line), "the script's two settings lines moved");
    let script = original
        .replace(url_line, &format!("accept_task_url = '{}'", app.url(ACCEPT)))
        .replace(token_line, &format!("auth_key = '{token}'"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("post_task.py");
    std::fs::write(&path, script).unwrap();

    let out = tokio::process::Command::new("python3")
        .arg(&path)
        .arg(template.to_string())
        .arg("new")
        .arg("release-2.0")
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "script failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("submitted successfully"), "{stdout}");
    let tasks = app.get("/api/v1/tasks", &app.admin_token).await.expect(200);
    assert_eq!(tasks["total"], 1);
    let task = app.get(&format!("/api/v1/tasks/{}", tasks["items"][0]["id"]), &app.admin_token).await.expect(200);
    assert_eq!(task["name"], "脚本任务 release-2.0");
    assert_eq!(task["status"], "new");
    assert_eq!(task["args"]["TAG"], "release-2.0");
    assert_eq!(task["hosts"], json!({"1": ["127.0.0.1"]}));

    // With an unknown template the script reports the failure and exits non-zero.
    let out = tokio::process::Command::new("python3").arg(&path).arg("999").output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("template 999 does not exist"));
}

both_backends!(
    python_dict_strings_with_the_csrf_handshake_create_a_task,
    json_object_bodies_work_with_bearer_or_query_token_and_no_csrf,
    cookie_posts_without_a_csrf_key_are_refused,
    every_codo_error_is_a_nonzero_code_with_a_clear_message,
    the_codo_python_script_works_with_only_url_and_token_changed,
);
