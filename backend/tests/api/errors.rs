//! The API's edges: every failure is JSON with the right 4xx; the spec, docs and SPA are served.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_serving, Backend};

async fn malformed_bodies_get_400_naming_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/commands"))
            .bearer_auth(&app.admin_token)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let cases = [
        ("{\"name\": \"x\",", "application/json", 400, "invalid_body"),
        ("", "application/json", 400, "invalid_body"),
        ("[1, 2]", "application/json", 400, "invalid_body"),
        ("name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ];
    for (body, ct, status, code) in cases {
        let resp = send(body, ct).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body:?}");
        assert!(resp.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["code"], code, "{body:?}: {answer}");
        assert!(answer["message"].as_str().unwrap().len() > 5);
    }
}

async fn oversized_bodies_get_413_with_or_without_a_length(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = format!("{{\"name\": \"x\", \"body\": \"{}\"}}", "a".repeat(300 * 1024));
    let declared = app
        .client
        .post(app.url("/api/v1/commands"))
        .bearer_auth(&app.admin_token)
        .header(CONTENT_TYPE, "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    assert_eq!(declared.json::<Value>().await.unwrap()["code"], "payload_too_large");
    // A streamed (chunked) body has no Content-Length; it is cut off at the same limit.
    let chunks = vec![Ok::<_, std::io::Error>(big.into_bytes())];
    let streamed = app
        .client
        .post(app.url("/api/v1/commands"))
        .bearer_auth(&app.admin_token)
        .header(CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    assert_eq!(streamed.json::<Value>().await.unwrap()["code"], "payload_too_large");
    assert_eq!(app.get("/api/v1/commands", &app.admin_token).await.expect(200), json!([]));
}

async fn unknown_routes_ids_and_methods_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    app.get("/api/v1/no-such-thing", t).await.expect_error(404, "not_found", None);
    app.get("/api/v1/templates/12345", t).await.expect_error(404, "not_found", None);
    app.get("/api/v1/templates/abc", t).await.expect_error(400, "bad_request", None);
    app.get("/api/v1/tasks/99999999999999999999", t).await.expect_error(400, "bad_request", None);
    app.send(reqwest::Method::DELETE, "/api/v1/tasks", Some(t), None).await.expect_error(
        405,
        "method_not_allowed",
        None,
    );
}

async fn openapi_spec_swagger_health_and_spa_deep_links_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/api/v1/tasks"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"]["BearerAuth"].is_object());
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .unwrap();
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("servers");
        v
    };
    assert!(
        strip(spec) == strip(committed),
        "docs/openapi.json is out of date: run `cargo run -p taskgate -- export-openapi > docs/openapi.json`"
    );

    let docs = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    std::fs::write(app.static_dir().join("index.html"), "<!doctype html><title>Taskgate SPA</title>").unwrap();
    for path in ["/", "/tasks/42", "/templates/new"] {
        let page = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.text().await.unwrap().contains("Taskgate SPA"), "{path} serves the app");
    }
}

async fn the_ui_files_are_revalidated_so_an_upgrade_is_never_mixed_with_a_cached_ui(backend: Backend) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("static");
    let app = spawn_app_serving(backend, &root).await;
    for path in ["/", "/style.css", "/tasks/1"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let again = app.client.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}: unchanged files are not sent again");
    }
    // The build's files live in a directory named after their content: kept for good, and
    // sent compressed as the browser accepts (the copies scripts/build-ui.sh made).
    let start = app.client.get(app.url("/pkg/start.js")).send().await.unwrap();
    assert_eq!(start.headers()["cache-control"], "no-cache");
    let start = start.text().await.unwrap();
    let wasm_path = start.split('"').find(|s| s.ends_with("_bg.wasm")).expect("start.js names the wasm").to_string();
    let on_disk = root.join(wasm_path.trim_start_matches('/'));
    for (accept, encoding, suffix) in
        [("gzip, deflate, br", Some("br"), ".br"), ("gzip", Some("gzip"), ".gz"), ("br;q=0", None, "")]
    {
        let r = app.client.get(app.url(&wasm_path)).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(r.headers()["content-type"], "application/wasm");
        assert_eq!(r.headers()["vary"], "accept-encoding");
        assert_eq!(r.headers().get("content-encoding").map(|v| v.to_str().unwrap()), encoding, "{accept}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let mut file = on_disk.clone().into_os_string();
        file.push(suffix);
        assert_eq!(r.bytes().await.unwrap(), std::fs::read(&file).unwrap(), "{accept}: the file as stored");
        let again =
            app.client.get(app.url(&wasm_path)).header("accept-encoding", accept).header("if-none-match", &etag).send();
        assert_eq!(again.await.unwrap().status(), 304);
    }
    assert!(std::fs::read(&on_disk).unwrap().starts_with(b"\0asm"));
    // A build that is gone is a 404, never index.html (which a stale page would run as code).
    for gone in
        ["/pkg/0123456789abcdef/taskgate-ui.js", &wasm_path.replace("_bg.wasm", "_bg.wasm%2f..%2f..%2fstart.js")]
    {
        let r = app.client.get(app.url(gone)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{gone}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{gone}");
    }
}

async fn static_errors_reveal_no_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    std::fs::write(app.static_dir().join("index.html"), "<!doctype html><title>Taskgate SPA</title>").unwrap();
    let dir = app.static_dir().display().to_string();
    for path in ["/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/x/..%2f..%2f..%2f"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        // Some paths are normalised by the client and land on the SPA; none may leak.
        assert!(status.is_client_error() || text.contains("Taskgate SPA"), "{path}: {status}");
        assert!(!text.contains(&dir) && !text.contains("/etc") && !text.contains("root:"), "{path}: {text}");
    }
    // A name that could step outside is no file at all: a 404, like any missing file.
    let resp = app.client.get(app.url("/..%2f..%2fetc%2fpasswd")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["message"], "not found");
}

async fn every_answer_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    std::fs::write(app.static_dir().join("index.html"), "<!doctype html><title>Taskgate SPA</title>").unwrap();
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    let csp = |resp: &reqwest::Response| {
        resp.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    // Whatever is asked first must not spoil the Swagger UI policy, which is learnt from
    // the page: not a HEAD (no body), not Swagger's other page.
    let head = app.client.head(app.url("/api/docs")).send().await.unwrap();
    assert!(csp(&head).contains("frame-ancestors 'none'"), "{}", csp(&head));
    let receiver = get("/api/docs/oauth-receiver.html").await.unwrap();
    assert!(csp(&receiver).starts_with("default-src 'none'"), "{}", csp(&receiver));
    for (path, status) in [
        ("/", 200),
        ("/tasks/42", 200),
        ("/api/v1/tasks", 401),
        ("/api/v1/nothing", 404),
        ("/healthz", 200),
        ("/api/openapi.json", 200),
        ("/api/docs", 200),
        ("/api/task/accept", 401),
        ("/..%2f..%2fetc%2fpasswd", 404),
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let policy = csp(&resp);
        for directive in ["frame-ancestors 'none'", "base-uri 'none'"] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("'unsafe-eval'"), "{path}: {policy}");
    }
    let spa = csp(&get("/tasks/42").await.unwrap());
    for directive in ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "object-src 'none'"] {
        assert!(spa.contains(directive), "SPA: {spa}");
    }
    assert!(csp(&get("/api/v1/tasks").await.unwrap()).starts_with("default-src 'none'"));
    // Swagger UI's inline scripts are allowed by hash, not by 'unsafe-inline'.
    for _ in 0..2 {
        let docs = get("/api/docs").await.unwrap();
        let policy = csp(&docs);
        let script_src = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap().to_string();
        assert_eq!(script_src.matches("'sha256-").count(), 2, "{policy}");
        assert!(!script_src.contains("unsafe-inline"), "{policy}");
        assert!(docs.text().await.unwrap().contains("SwaggerUIBundle"));
    }
}

/// Validation messages come in the language of `Accept-Language` (English unless it
/// prefers Chinese), with the values in their places, and the field named either way.
async fn validation_messages_follow_accept_language(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let send = |path: &'static str, language: Option<&'static str>, body: Value| {
        let app = &app;
        async move {
            let mut req = app.client.post(app.url(path)).bearer_auth(&app.admin_token).json(&body);
            if let Some(l) = language {
                req = req.header("accept-language", l);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 422, "{body}");
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(answer["code"], "invalid");
            (answer["field"].as_str().unwrap().to_string(), answer["message"].as_str().unwrap().to_string())
        }
    };
    let empty = || json!({"name": "  ", "body": "true"});
    assert_eq!(send("/api/v1/commands", None, empty()).await, ("name".into(), "must not be empty".into()));
    let nul = send("/api/v1/commands", Some("zh-CN"), json!({"name": "a\u{0}b", "body": "true"})).await;
    assert_eq!(nul, ("name".into(), "不能包含 NUL 字符".into()), "a NUL caught while reading the body");
    for chinese in ["zh-CN", "zh-CN,zh;q=0.9,en;q=0.8", "fr, zh;q=0.5", "zh-TW", "en;q=0.1, zh", "zh;Q=1, en;q=0.5"] {
        assert_eq!(
            send("/api/v1/commands", Some(chinese), empty()).await,
            ("name".into(), "不能为空".into()),
            "{chinese}"
        );
    }
    for english in ["en-US,zh-CN;q=0.5", "de", "zh;q=0, en", "*", "q=1;zh", ";;,,"] {
        assert_eq!(
            send("/api/v1/commands", Some(english), empty()).await,
            ("name".into(), "must not be empty".into()),
            "{english:?}"
        );
    }
    // Values stay as given, in their places; a value that looks like a place is not one.
    let unknown = json!({"template_id": template, "schedule": "new", "args": {"TAG": "release-1", "X_{key}": "1"},
                         "hosts": {"1": ["a"], "2": ["b"]}});
    let (field, message) = send("/api/v1/tasks", Some("zh-CN"), unknown.clone()).await;
    assert_eq!(field, "args.X_{key}");
    assert_eq!(message, "模板 \"release\" 没有参数 \"X_{key}\"；它接受的参数：TAG");
    let (_, english) = send("/api/v1/tasks", None, unknown).await;
    assert_eq!(english, "template \"release\" has no parameter \"X_{key}\"; it takes: TAG");
    // A message inside a message reads in the same language.
    let reserved = json!({"name": "bad placeholder", "body": "echo {{ PATH }}"});
    let (field, message) = send("/api/v1/commands", Some("zh-CN"), reserved).await;
    assert_eq!(field, "body");
    assert!(message.starts_with("占位符 {{ PATH }}：PATH 是保留名称"), "{message}");
    let commented =
        json!({"name": "in a comment", "steps": [{"name": "s", "group": "local", "script": "echo x # {{ TAG }}"}]});
    let (field, message) = send("/api/v1/templates", Some("zh-CN"), commented).await;
    assert_eq!(field, "steps[0].script");
    assert_eq!(message, "第 1 行的 `{{ TAG }}` 无法安全地加引号：它位于注释中。请把它移出该位置，或改用环境变量");

    // Every other error a person may meet reads in the same language; codes never change.
    let zh = |method: reqwest::Method, path: String, body: Option<Value>| {
        let app = &app;
        async move {
            let mut req = app.client.request(method, app.url(&path)).bearer_auth(&app.admin_token);
            req = req.header("accept-language", "zh-CN");
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let answer: Value = resp.json().await.unwrap();
            (status, answer["code"].as_str().unwrap().to_string(), answer["message"].as_str().unwrap().to_string())
        }
    };
    let taken =
        zh(reqwest::Method::POST, "/api/v1/commands".into(), Some(json!({"name": "deploy", "body": "true"}))).await;
    assert_eq!(taken, (409, "conflict".into(), "名为 \"deploy\" 的命令已存在".into()));
    let missing = zh(reqwest::Method::GET, "/api/v1/tasks/999999".into(), None).await;
    assert_eq!(missing, (404, "not_found".into(), "任务 999999 不存在".into()));
    let id = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let aborted = zh(reqwest::Method::POST, format!("/api/v1/tasks/{id}/abort"), Some(json!({}))).await;
    assert_eq!(aborted, (409, "invalid_transition".into(), format!("无法对任务 {id} 执行“终止”：它的状态是“待审批”")));
    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("accept-language", "zh-CN")
        .json(&json!({"username": "admin", "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    assert_eq!(login.json::<Value>().await.unwrap()["message"], "用户名或密码错误");

    // The framework's own answers too: an unknown route, a method a route does not take,
    // a bad parameter, a body too large, a body of another type, a request with no token.
    let nowhere = zh(reqwest::Method::GET, "/api/v1/no-such-thing".into(), None).await;
    assert_eq!(nowhere, (404, "not_found".into(), "没有这个端点".into()));
    let method = zh(reqwest::Method::DELETE, "/api/v1/tasks".into(), None).await;
    assert_eq!((method.0, method.1.as_str()), (405, "method_not_allowed"));
    assert!(method.2.starts_with("此端点不接受该方法；请使用 GET"), "{method:?}");
    let param = zh(reqwest::Method::GET, "/api/v1/tasks/not-a-number".into(), None).await;
    assert_eq!((param.0, param.1.as_str()), (400, "bad_request"));
    assert!(param.2.starts_with("无法读取请求："), "{param:?}");
    let chinese = |req: reqwest::RequestBuilder| async move {
        let resp = req.header("accept-language", "zh-CN").send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string())
    };
    let commands = app.url("/api/v1/commands");
    let huge = chinese(app.client.post(&commands).bearer_auth(&app.admin_token).body(vec![b' '; 300 * 1024])).await;
    assert_eq!(huge.0, 413);
    assert!(huge.1.starts_with("请求体超过 ") && huge.1.ends_with(" 字节"), "{huge:?}");
    let text = app.client.post(&commands).bearer_auth(&app.admin_token).header("content-type", "text/plain").body("x");
    let text = chinese(text).await;
    assert_eq!(text.0, 415);
    assert!(text.1.starts_with("此处不接受这种内容类型："), "{text:?}");
    let anonymous = chinese(app.client.get(app.url("/api/v1/tasks"))).await;
    assert_eq!(anonymous, (401, "需要认证：请发送 Authorization: Bearer <令牌>".into()));
}

both_backends!(
    validation_messages_follow_accept_language,
    the_ui_files_are_revalidated_so_an_upgrade_is_never_mixed_with_a_cached_ui,
    static_errors_reveal_no_paths,
    every_answer_carries_the_security_headers,
    malformed_bodies_get_400_naming_the_problem,
    oversized_bodies_get_413_with_or_without_a_length,
    unknown_routes_ids_and_methods_get_json_errors,
    openapi_spec_swagger_health_and_spa_deep_links_are_served,
);
