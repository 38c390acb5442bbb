//! The UI in Simplified Chinese and English, on a desktop and a phone, in a real browser:
//! frontend/e2e/i18n.mjs visits every page with one of each thing in the server and fails
//! on English left on a Chinese page or a page wider than a 390 px screen.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_serving, Backend, ADMIN_PASSWORD};

const TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_speaks_chinese_and_fits_a_phone_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    crate::ui::check_prerequisites(&root);
    let app = spawn_app_serving(Backend::Sqlite, &root.join("static")).await;
    let t = &app.admin_token;
    // Names with a digit or a dash: the check reads them as data, never as English words,
    // so nothing the test made can hide an untranslated text.
    let cmd = app.post("/api/v1/commands", t, &json!({"name": "cmd-1", "body": "echo {{ K_1 }}"})).await.expect(201);
    app.post("/api/v1/aliases", t, &json!({"key": "K_1", "label": "k-1", "pattern": "v-[0-9]+"})).await.expect(201);
    let release = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "tpl-1", "steps": [
                {"name": "s-1", "group": "local", "script": "echo n-1 {{ K_1 }}"},
                {"name": "s-2", "group": "1", "command_id": cmd["id"]},
                {"name": "s-3", "group": "2", "command_id": cmd["id"]}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let report = app
        .post(
            "/api/v1/templates",
            t,
            &json!({"name": "tpl-2", "steps": [{"name": "s-4", "group": "local", "script": "echo n-4"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let finished = app.run_task(report, json!({}), json!({})).await;
    assert_eq!(app.wait_status(finished, &["success", "failed"]).await["status"], "success");
    let waiting = app
        .post(
            "/api/v1/tasks",
            t,
            &json!({"template_id": release, "schedule": "new", "name": "task-7", "args": {"K_1": "v-12"},
                    "hosts": {"1": ["10.0.0.1"], "2": ["10.0.0.2"]}, "exec_time": "2035-01-01 00:00:00"}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    app.post("/api/v1/hosts", t, &json!({"name": "web-1", "address": "10.0.0.1"})).await.expect(201);
    app.post("/api/v1/credentials", t, &json!({"name": "cred-1", "kind": "password", "secret": "s3cret-pw"}))
        .await
        .expect(201);
    app.post(
        "/api/v1/schedules",
        t,
        &json!({"name": "sch-1", "cron": "30 2 * * *", "timezone": "Asia/Shanghai", "template_id": report,
                "args": {}, "schedule": "ready"}),
    )
    .await
    .expect(201);
    app.post("/api/v1/tokens", t, &json!({"name": "tok-1", "scopes": ["read"]})).await.expect(201);
    app.user("viewer-1", "viewer", &[]).await;

    let pages = [
        "/".to_string(),
        "/tasks".into(),
        "/tasks/new".into(),
        format!("/tasks/{finished}"),
        format!("/tasks/{waiting}"),
        "/approvals".into(),
        "/templates".into(),
        "/templates/new".into(),
        format!("/templates/{release}"),
        "/commands".into(),
        "/aliases".into(),
        "/hosts".into(),
        "/credentials".into(),
        "/schedules".into(),
        "/gitlab".into(),
        "/tokens".into(),
        "/users".into(),
        "/mail".into(),
        "/audit".into(),
        "/me".into(),
        "/no/such/page".into(),
    ];
    // What the server holds is shown as it is: the seeded names above are all read as data.
    let data_words: [&str; 0] = [];
    let work = tempfile::tempdir().unwrap();
    let artifacts = root.join("test-artifacts/i18n");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = work.path().join("config.json");
    let cfg = json!({"base_url": app.base, "artifacts_dir": artifacts, "admin_password": ADMIN_PASSWORD,
                     "pages": pages, "data_words": data_words});
    std::fs::write(&config, cfg.to_string()).unwrap();

    let status = crate::ui::run_e2e("i18n.mjs", &root, &config, &artifacts, TIMEOUT).await;
    assert!(
        status.success(),
        "the language check in Chromium failed ({status}); screenshots in {}",
        artifacts.display()
    );
}
