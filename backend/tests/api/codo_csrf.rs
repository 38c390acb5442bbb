//! The CODO endpoint under attack: cross-site forgery riding on cookies, csrf keys asked
//! for in bulk, deep nesting that used to abort the server, NUL in every text.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

use crate::both_backends;
use crate::codo::{codo_template, handshake, hook_token, post_bearer, post_raw, ACCEPT};
use crate::helpers::{spawn_app, Backend, TestApp};

/// A valid CODO body for `codo_template`.
fn body(template: i64) -> Value {
    json!({"task_name": "t", "temp_id": template, "args": "{'TAG': 'a', 'GIT_URL': 'g', 'APP_NAME': 'w'}", "hosts": "{1: '10.0.0.1'}"})
}

/// POSTs `body` to the accept URL with exactly these headers.
async fn post_with(app: &TestApp, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut req = app.client.post(app.url(ACCEPT)).body(body.to_string());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn task_total(app: &TestApp) -> Value {
    app.get("/api/v1/tasks", &app.admin_token).await.expect(200)["total"].clone()
}

async fn a_cross_site_text_plain_post_with_cookies_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let key = handshake(&app, &token).await;
    let cookies = format!("auth_key={token}; csrf_key={key}");
    // What a hostile page's <form enctype="text/plain"> makes the browser send. Even a
    // body that carries the right key (were it known) does not help: the origin is foreign.
    let mut with_key = body(template);
    with_key["csrf_key"] = json!(key);
    let forged = [
        vec![("origin", "https://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        vec![("sec-fetch-site", "cross-site".to_string())],
        vec![("sec-fetch-site", "same-site".to_string()), ("origin", app.base.clone())],
        vec![("referer", "https://evil.example/page".to_string())],
    ];
    for extra in forged {
        let mut headers = vec![(COOKIE.as_str(), cookies.clone()), ("content-type", "text/plain".to_string())];
        headers.extend(extra.iter().cloned());
        let (status, answer) = post_with(&app, &headers, &with_key.to_string()).await;
        assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "{extra:?}: {answer}");
        assert!(answer["msg"].as_str().unwrap().contains("cross-site"), "{answer}");
    }
    assert_eq!(task_total(&app).await, 0);
    // The key was never used: the script's own request still works with it.
    let (status, answer) = post_raw(&app, ACCEPT, Some(cookies), &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "{answer}");
}

async fn a_csrf_key_only_in_a_cookie_is_refused_from_a_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let key = handshake(&app, &token).await;
    let cookies = format!("auth_key={token}; csrf_key={key}");
    // Same-site requests, but a browser's: the cookie alone is what a forgery would carry.
    for sign in [
        ("origin", app.base.clone()),
        ("sec-fetch-site", "same-origin".to_string()),
        ("referer", format!("{}/tasks", app.base)),
    ] {
        let headers = [(COOKIE.as_str(), cookies.clone()), (sign.0, sign.1.clone())];
        let (status, answer) = post_with(&app, &headers, &body(template).to_string()).await;
        assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "{sign:?}: {answer}");
        assert!(answer["msg"].as_str().unwrap().contains("X-Csrf-Key"), "{answer}");
    }
    assert_eq!(task_total(&app).await, 0);
}

async fn a_double_submitted_key_is_accepted_and_a_mismatch_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let same_origin = ("origin", app.base.clone());

    // Header and cookie agree, from a browser on this server's own page.
    let key = handshake(&app, &token).await;
    let headers = [
        (COOKIE.as_str(), format!("auth_key={token}; csrf_key={key}")),
        ("x-csrf-key", key.clone()),
        same_origin.clone(),
    ];
    let (status, answer) = post_with(&app, &headers, &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "header: {answer}");

    // Body field and cookie agree.
    let key = handshake(&app, &token).await;
    let mut with_key = body(template);
    with_key["csrf_key"] = json!(key);
    let headers = [(COOKIE.as_str(), format!("auth_key={token}; csrf_key={key}")), same_origin.clone()];
    let (status, answer) = post_with(&app, &headers, &with_key.to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "body: {answer}");

    // The header alone (no csrf cookie) is enough: no other site can set it.
    let key = handshake(&app, &token).await;
    let headers = [(COOKIE.as_str(), format!("auth_key={token}")), ("x-csrf-key", key.clone())];
    let (status, answer) = post_with(&app, &headers, &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "header only: {answer}");

    // Two valid keys that differ: the header does not match the cookie.
    let (first, second) = (handshake(&app, &token).await, handshake(&app, &token).await);
    let headers = [(COOKIE.as_str(), format!("auth_key={token}; csrf_key={first}")), ("x-csrf-key", second.clone())];
    let (status, answer) = post_with(&app, &headers, &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "mismatch: {answer}");
    assert!(answer["msg"].as_str().unwrap().contains("differs"), "{answer}");
    let mut wrong_type = body(template);
    wrong_type["csrf_key"] = json!(["k"]);
    let headers = [(COOKIE.as_str(), format!("auth_key={token}; csrf_key={first}"))];
    let (status, answer) = post_with(&app, &headers, &wrong_type.to_string()).await;
    assert_eq!((status, answer["field"].clone()), (400, json!("csrf_key")), "{answer}");
    assert_eq!(task_total(&app).await, 3);
}

async fn the_csrf_cookie_is_strict_http_only_and_scoped_to_the_codo_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = hook_token(&app).await;
    let resp = app.client.get(app.url(ACCEPT)).header(COOKIE, format!("auth_key={token}")).send().await.unwrap();
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/task/", "Max-Age=1800"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(resp.headers()["cache-control"], "no-store");

    let https = crate::helpers::spawn_app_with(backend, |s| s.public_url = Some("https://tasks.example".into())).await;
    let token = hook_token(&https).await;
    let resp = https.client.get(https.url(ACCEPT)).header(COOKIE, format!("auth_key={token}")).send().await.unwrap();
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "https public URL: {cookie}");
    // The public URL is this server's origin too.
    let key: Value = resp.json().await.unwrap();
    let headers = [
        (COOKIE.as_str(), format!("auth_key={token}")),
        ("x-csrf-key", key["csrf_key"].as_str().unwrap().to_string()),
        ("origin", "https://tasks.example".to_string()),
    ];
    let template = codo_template(&https).await;
    let mut req = https.client.post(https.url(ACCEPT)).body(body(template).to_string());
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let answer: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
}

async fn csrf_keys_need_task_submit_and_a_user_holds_at_most_fifty(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let viewer = app.user("watcher", "viewer", &[]).await;
    let resp = app.client.get(app.url(ACCEPT)).header(COOKIE, format!("auth_key={viewer}")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], -2);

    let token = hook_token(&app).await;
    let mut keys = vec![];
    for _ in 0..60 {
        keys.push(handshake(&app, &token).await);
    }
    let me = app.get("/api/v1/me", &token).await.expect(200);
    let held = app
        .query_text("SELECT CAST(COUNT(*) AS TEXT) FROM codo_csrf_keys WHERE user_id = $1", me["id"].as_i64().unwrap())
        .await;
    assert_eq!(held, "50");
    // The oldest ten were dropped; the rest still work.
    let cookie = |k: &str| Some(format!("auth_key={token}; csrf_key={k}"));
    let (status, answer) = post_raw(&app, ACCEPT, cookie(&keys[9]), &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "{answer}");
    let (status, answer) = post_raw(&app, ACCEPT, cookie(&keys[10]), &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(0)), "{answer}");
}

async fn expired_csrf_keys_are_swept_in_the_background_and_refused(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    handshake(&app, &token).await;
    handshake(&app, &token).await;
    let user_id = app.get("/api/v1/me", &token).await.expect(200)["id"].as_i64().unwrap();
    let expire = "UPDATE codo_csrf_keys SET expires_at = $1 WHERE user_id = $2";
    app.execute(expire, 1, user_id).await;

    // Nobody uses them; the sweep, which runs when the server starts and every few
    // minutes after, deletes them.
    app.restart().await;
    let count = "SELECT CAST(COUNT(*) AS TEXT) FROM codo_csrf_keys WHERE user_id = $1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.query_text(count, user_id).await != "0" {
        assert!(std::time::Instant::now() < deadline, "expired keys were not swept");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // An expired key that is still stored is refused all the same.
    let key = handshake(&app, &token).await;
    app.execute(expire, 1, user_id).await;
    let (status, answer) =
        post_raw(&app, ACCEPT, Some(format!("auth_key={token}; csrf_key={key}")), &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone()), (403, json!(-3)), "{answer}");
}

async fn a_viewer_cannot_crash_the_server_with_deep_nesting(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let viewer = app.user("watcher", "viewer", &[]).await;
    let operator = hook_token(&app).await;
    let deep = "[".repeat(20_000);
    for field in ["args", "hosts", "associated_user"] {
        let mut b = body(template);
        b[field] = json!(deep);
        let b = b.to_string();
        assert!(b.len() > 20_000);
        // A viewer may not submit: refused before the body is read.
        let (status, answer) = post_bearer(&app, ACCEPT, &viewer, &b).await;
        assert_eq!((status, answer["code"].clone()), (403, json!(-2)), "{field}: {answer}");
        // A submitter's body is parsed, to a bounded depth.
        let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={operator}"), None, &b).await;
        assert_eq!((status, answer["field"].clone()), (400, json!(field)), "{answer}");
        assert!(answer["msg"].as_str().unwrap().contains("nested more than 64"), "{answer}");
    }
    // The body itself nested deeply, as JSON: serde_json's own limit answers.
    for raw in [deep.clone(), format!("{{\"task_name\": \"x\", \"temp_id\": 1, \"args\": {deep}")] {
        let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={operator}"), None, &raw).await;
        assert_eq!((status, answer["field"].clone()), (400, json!("body")), "{answer}");
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(task_total(&app).await, 0);
}

async fn nul_in_any_codo_text_is_refused_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = codo_template(&app).await;
    let token = hook_token(&app).await;
    let with = |k: &str, v: Value| {
        let mut b = body(template);
        b[k] = v;
        b.to_string()
    };
    let cases = [
        (with("task_name", json!("a\u{0}b")), "task_name"),
        (with("details", json!("a\u{0}b")), "details"),
        (with("executor", json!("a\u{0}b")), "executor"),
        (with("submitter", json!("a\u{0}b")), "submitter"),
        (with("args", json!("{'TAG': 'a\\x00b', 'GIT_URL': 'g', 'APP_NAME': 'w'}")), "args.TAG"),
        (with("args", json!({"TAG": "a", "GIT_URL": "g\u{0}", "APP_NAME": "w"})), "args.GIT_URL"),
        (with("hosts", json!("{1: '10.0.0.1\\0'}")), "hosts.1[0]"),
        (with("associated_user", json!("alice\u{0}")), "associated_user[0]"),
    ];
    for (b, field) in cases {
        let (status, answer) = post_raw(&app, &format!("{ACCEPT}?auth_key={token}"), None, &b).await;
        assert_eq!((status, answer["field"].clone()), (422, json!(field)), "{answer}");
        assert_eq!(answer["code"], -1);
        assert!(answer["msg"].as_str().unwrap().contains("NUL"), "{answer}");
    }
    let (status, answer) =
        post_raw(&app, &format!("{ACCEPT}?auth_key={token}&x=%00"), None, &body(template).to_string()).await;
    assert_eq!((status, answer["code"].clone(), answer["field"].clone()), (422, json!(-1), json!("x")), "{answer}");
    assert_eq!(task_total(&app).await, 0);
}

both_backends!(
    a_cross_site_text_plain_post_with_cookies_is_refused,
    a_csrf_key_only_in_a_cookie_is_refused_from_a_browser,
    a_double_submitted_key_is_accepted_and_a_mismatch_refused,
    the_csrf_cookie_is_strict_http_only_and_scoped_to_the_codo_path,
    csrf_keys_need_task_submit_and_a_user_holds_at_most_fifty,
    expired_csrf_keys_are_swept_in_the_background_and_refused,
    a_viewer_cannot_crash_the_server_with_deep_nesting,
    nul_in_any_codo_text_is_refused_naming_the_field,
);
