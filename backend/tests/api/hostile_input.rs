//! Input sent the way an attacker would: arrays for objects, NUL bytes, huge and negative
//! numbers, JSON nested as deep as the parser goes. Each is refused with a 4xx naming the
//! input, and the server keeps answering.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp, ADMIN_PASSWORD};

async fn post_text(app: &TestApp, path: &str, token: Option<&str>, body: String) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).header(CONTENT_TYPE, "application/json").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the server answers");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn json_arrays_are_refused_where_objects_are_expected(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_token;
    let operator_token = app.user("olga", "operator", &[]).await;
    let olga = app.get("/api/v1/me", &operator_token).await.expect(200);
    let path = format!("/api/v1/users/{}", olga["id"]);
    app.put(&path, admin, &json!([null, "viewer", "x"])).await.expect_error(400, "invalid_body", None);
    let unchanged = app.get(&path, admin).await.expect(200);
    assert_eq!(
        (unchanged["role"].clone(), unchanged["display_name"].clone()),
        (olga["role"].clone(), olga["display_name"].clone())
    );

    // Nested structs too, with the path of the array.
    let steps = json!({"name": "t", "steps": [["s", "1", null, "echo hi"]]});
    app.post("/api/v1/templates", admin, &steps).await.expect_error(400, "invalid_body", Some("steps[0]"));
    app.send(reqwest::Method::POST, "/api/v1/auth/login", None, Some(&json!(["admin", ADMIN_PASSWORD])))
        .await
        .expect_error(400, "invalid_body", None);
    // Objects still work, and trailing text after the object is refused.
    app.post("/api/v1/commands", admin, &json!({"name": "c", "body": "true"})).await.expect(201);
    let (status, answer) =
        post_text(&app, "/api/v1/commands", Some(admin), r#"{"name": "d", "body": "x"} []"#.into()).await;
    assert_eq!((status, answer["code"].clone()), (400, json!("invalid_body")), "{answer}");
}

async fn nul_bytes_are_refused_in_bodies_queries_and_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_token;
    app.post("/api/v1/commands", admin, &json!({"name": "c", "body": "echo a\u{0}b"})).await.expect_error(
        422,
        "invalid",
        Some("body"),
    );
    let template = json!({"name": "t", "steps": [{"name": "s", "group": "1", "script": "echo \u{0}"}]});
    app.post("/api/v1/templates", admin, &template).await.expect_error(422, "invalid", Some("steps[0].script"));
    let login = json!({"username": "ad\u{0}min", "password": ADMIN_PASSWORD});
    app.send(reqwest::Method::POST, "/api/v1/auth/login", None, Some(&login)).await.expect_error(
        422,
        "invalid",
        Some("username"),
    );
    let (status, answer) =
        post_text(&app, "/api/v1/commands", Some(admin), "{\"name\": \"c\", \"b\\u0000\": \"x\"}".into()).await;
    assert_eq!((status, answer["field"].clone()), (422, json!("body")), "{answer}");

    // Query strings: on SQLite `q=%00` used to match every task.
    let template = app.deploy_template().await;
    app.submit(admin, template, "new").await.expect(201);
    for (path, field) in [
        ("/api/v1/tasks?q=%00", "q"),
        ("/api/v1/tasks?q=a%00b", "q"),
        ("/api/v1/tasks?submitter=admin%00", "submitter"),
        ("/api/v1/tasks?status=new%00", "status"),
        ("/api/v1/audit?actor=%00", "actor"),
        ("/api/v1/audit?action=%00", "action"),
        ("/api/v1/audit?object_id=1%00", "object_id"),
        ("/api/v1/tasks/1%00", "path"),
        ("/tasks/%00", "path"),
    ] {
        app.get(path, admin).await.expect_error(422, "invalid", Some(field));
    }
    assert_eq!(app.get("/api/v1/tasks?q=release", admin).await.expect(200)["total"], 1);
}

async fn huge_and_negative_paging_values_are_refused_not_wrapped(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_token;
    let template = app.deploy_template().await;
    let task = app.submit(admin, template, "new").await.expect(201);
    let max = i64::MAX;
    let min = i64::MIN;
    for list in ["/api/v1/tasks", "/api/v1/audit"] {
        for (query, field) in [
            (format!("page={max}"), "page"),
            (format!("page={}", max / 2), "page"),
            ("page=5000002&per_page=200".to_string(), "page"),
            (format!("page={min}"), "page"),
            ("page=0".to_string(), "page"),
            (format!("per_page={max}"), "per_page"),
            (format!("per_page={min}"), "per_page"),
        ] {
            app.get(&format!("{list}?{query}"), admin).await.expect_error(422, "invalid", Some(field));
        }
        app.get(&format!("{list}?page=99999999999999999999"), admin).await.expect_error(
            400,
            "bad_request",
            Some("page"),
        );
        // The deepest page allowed is simply empty.
        let deep = app.get(&format!("{list}?page=5000001&per_page=200"), admin).await.expect(200);
        assert_eq!(deep["items"], json!([]), "{list}");
        assert_eq!(app.get(&format!("{list}?page=1"), admin).await.expect(200)["page"], 1);
    }
    let logs = format!("/api/v1/tasks/{}/logs", task["id"]);
    app.get(&format!("{logs}?limit={max}"), admin).await.expect_error(422, "invalid", Some("limit"));
    app.get(&format!("{logs}?limit={min}"), admin).await.expect_error(422, "invalid", Some("limit"));
    for query in [format!("after={min}"), format!("after={max}"), format!("step={max}&attempt={min}")] {
        let page = app.get(&format!("{logs}?{query}"), admin).await.expect(200);
        assert_eq!(page["lines"], json!([]), "{query}");
    }
    app.get(&format!("/api/v1/mail?task_id={min}"), admin).await.expect(200);
    app.get(&format!("/api/v1/tasks?template_id={max}"), admin).await.expect(200);
}

async fn json_nested_as_deep_as_allowed_is_parsed_and_deeper_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // serde_json stops at 128 levels; just below that must not exhaust a worker's stack.
    for depth in [120, 127] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let (status, _) = post_text(&app, "/api/v1/hooks/gitlab", None, body).await;
        assert!(status < 500, "depth {depth}: {status}");
        let body = format!("{{\"object_kind\": {}{}}}", "{\"a\": ".repeat(depth - 1), "1}".repeat(depth - 1));
        let (status, _) = post_text(&app, "/api/v1/hooks/gitlab", None, body).await;
        assert!(status < 500, "depth {depth}: {status}");
    }
    for body in ["[".repeat(20_000), format!("{{\"name\": {}", "{\"a\": ".repeat(20_000))] {
        let (status, answer) = post_text(&app, "/api/v1/commands", Some(&app.admin_token), body).await;
        assert_eq!((status, answer["code"].clone()), (400, json!("invalid_body")), "{answer}");
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

both_backends!(
    json_arrays_are_refused_where_objects_are_expected,
    nul_bytes_are_refused_in_bodies_queries_and_paths,
    huge_and_negative_paging_values_are_refused_not_wrapped,
    json_nested_as_deep_as_allowed_is_parsed_and_deeper_refused,
);
