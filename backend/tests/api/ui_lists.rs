//! The task list and the audit log in a real browser: frontend/e2e/lists.mjs pages, searches
//! and filters them in Debian's Chromium against this server.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_serving, Backend, TestApp, ADMIN_PASSWORD};

impl TestApp {
    /// Submits a ready task of `template` (no arguments, no hosts) and waits for its end.
    async fn run_task_ready(&self, template: i64) -> i64 {
        let body = json!({"template_id": template, "schedule": "ready"});
        let id = self.post("/api/v1/tasks", &self.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
        for _ in 0..300 {
            let t = self.get(&format!("/api/v1/tasks/{id}"), &self.admin_token).await.expect(200);
            if t["status"] == "success" {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("task {id} did not succeed");
    }
}

const TIMEOUT: Duration = Duration::from_secs(180);
const TASKS: usize = 31;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_paging_search_and_the_audit_log_work_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    for needed in ["static/pkg/taskgate-ui_bg.wasm", "frontend/e2e/node_modules/playwright-core"] {
        assert!(
            root.join(needed).exists(),
            "{needed} is missing: run `bash scripts/build-ui.sh` and `npm ci --prefix frontend/e2e`"
        );
    }
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
                    "script": "i=1; while [ $i -le 400 ]; do echo \"line $i\"; i=$((i + 1)); done"}]}),
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
    let finished = app.run_task_ready(chatty).await;
    let work = tempfile::tempdir().unwrap();
    let artifacts = root.join("test-artifacts/lists");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = work.path().join("config.json");
    let cfg = json!({"base_url": app.base, "artifacts_dir": artifacts, "admin_password": ADMIN_PASSWORD,
                     "tasks": TASKS + 1, "needle": needle, "finished_task": finished, "slow_template": slow});
    std::fs::write(&config, cfg.to_string()).unwrap();

    let mut child = tokio::process::Command::new("node")
        .arg("frontend/e2e/lists.mjs")
        .current_dir(&root)
        .env("TASKGATE_E2E_CONFIG", &config)
        .env("ARTIFACTS_DIR", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js) is installed");
    let status = tokio::time::timeout(TIMEOUT, child.wait()).await.expect("the check finishes").unwrap();
    assert!(status.success(), "the lists check in Chromium failed ({status}); screenshots in {}", artifacts.display());
}
