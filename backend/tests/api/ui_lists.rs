//! The task list and the audit log in a real browser: frontend/e2e/lists.mjs pages, searches
//! and filters them in Debian's Chromium against this server.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_serving, Backend, ADMIN_PASSWORD};

const TIMEOUT: Duration = Duration::from_secs(180);
const TASKS: usize = 31;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_paging_search_and_the_audit_log_work_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    crate::ui::check_prerequisites(&root);
    let app = spawn_app_serving(Backend::Sqlite, &root.join("static")).await;
    let template = app.deploy_template().await;
    let needle = format!("needle-{}", uuid::Uuid::new_v4().simple());
    for i in 0..TASKS {
        let name = if i == 7 { needle.clone() } else { format!("release {i}") };
        app.post(
            "/api/v1/tasks",
            &app.admin_token,
            &json!({"template_id": template, "schedule": "new", "name": name, "args": {"TAG": "release-1.2"},
                    "hosts": {"1": ["10.0.0.1"], "2": ["10.0.0.2"]}, "exec_time": "2035-01-01 00:00:00"}),
        )
        .await
        .expect(201);
    }
    // A finished log longer than the pane shows at once, and one that is still growing.
    let chatty = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "chatty", "steps": [{"name": "count", "group": "local",
                    "script": "i=1; while [ $i -le 2500 ]; do echo \"line $i\"; i=$((i + 1)); done"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let slow = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "slow", "steps": [{"name": "drip", "group": "local",
                    "script": "i=1; while [ $i -le 150 ]; do echo \"drip $i\"; i=$((i + 1)); sleep 0.1; done"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let finished = app.run_task(chatty, json!({}), json!({})).await;
    assert_eq!(app.wait_status(finished, &["success", "failed"]).await["status"], "success");
    let needle_task = app.get(&format!("/api/v1/tasks?q={needle}"), &app.admin_token).await.expect(200)["items"][0]
        ["id"]
        .as_i64()
        .expect("the needle task is listed");
    app.user("plain", "viewer", &[]).await;
    let work = tempfile::tempdir().unwrap();
    let artifacts = root.join("test-artifacts/lists");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = work.path().join("config.json");
    let cfg = json!({"base_url": app.base, "artifacts_dir": artifacts, "admin_password": ADMIN_PASSWORD,
                     "tasks": TASKS + 1, "needle": needle, "finished_task": finished, "finished_template": chatty,
                     "slow_template": slow, "needle_task": needle_task,
                     "plain_user": "plain", "release_template": template, "plain_password": crate::helpers::PASSWORD});
    std::fs::write(&config, cfg.to_string()).unwrap();

    let status = crate::ui::run_e2e("lists.mjs", &root, &config, &artifacts, TIMEOUT).await;
    assert!(status.success(), "the lists check in Chromium failed ({status}); screenshots in {}", artifacts.display());
}
