//! The web UI in a real browser: frontend/e2e/workflow.mjs drives Debian's Chromium through
//! the whole workflow against this server and a real sshd; then the API confirms the outcome.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_serving, Backend, TestApp, ADMIN_PASSWORD};
use crate::sshd::{processes_matching, TestSshd};

/// Long enough for the workflow on two loaded cores; it takes well under a minute.
const WORKFLOW_TIMEOUT: Duration = Duration::from_secs(300);
const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("backend/ sits in the repository").to_path_buf()
}

/// Fails with what to run when the bundle, playwright-core or Chromium is missing.
pub fn check_prerequisites(root: &Path) {
    let wasm = root.join("static/pkg/start.js");
    assert!(wasm.exists(), "{} is missing: run `bash scripts/build-ui.sh` first", wasm.display());
    let playwright = root.join("frontend/e2e/node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "{} is missing: run `npm ci --prefix frontend/e2e` (scripts/test.sh does)",
        playwright.display()
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `apt-get install chromium` (scripts/test.sh does)"
    );
}

/// Runs a Node script of frontend/e2e with its configuration file; on time-out stops it
/// (TERM first, so Playwright closes Chromium) and fails.
pub async fn run_e2e(script: &str, root: &Path, config: &Path, artifacts: &Path, limit: Duration) -> ExitStatus {
    let mut child = tokio::process::Command::new("node")
        .arg(format!("frontend/e2e/{script}"))
        .current_dir(root)
        .env("TASKGATE_E2E_CONFIG", config)
        .env("ARTIFACTS_DIR", artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js) is installed");
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.expect("waiting for node"),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
            panic!("{script} took over {limit:?}; see {}", artifacts.display());
        }
    }
}

/// The one task named `name`, as listed by the API.
async fn task_named(app: &TestApp, name: &str) -> Value {
    let page = app.get(&format!("/api/v1/tasks?q={name}"), &app.admin_token).await.expect(200);
    let matching: Vec<&Value> = page["items"].as_array().unwrap().iter().filter(|t| t["name"] == name).collect();
    assert_eq!(matching.len(), 1, "one task named {name}: {page}");
    matching[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_workflow_in_chromium() {
    let root = repo_root();
    check_prerequisites(&root);
    let sshd = TestSshd::start_on(&["127.0.0.1", "127.0.0.2"]).await;
    let app = spawn_app_serving(Backend::Sqlite, &root.join("static")).await;
    let work = tempfile::tempdir().unwrap();
    let marker_dir = work.path().join("markers");
    std::fs::create_dir(&marker_dir).unwrap();
    let artifacts = root.join("test-artifacts/ui");
    // Only this run's screenshots and failure dumps.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let long_sleep_marker = format!("sleep {}", 600_000 + uuid::Uuid::new_v4().as_u128() % 300_000);
    let config = json!({
        "base_url": app.base,
        "admin_password": ADMIN_PASSWORD,
        "ssh": {
            "port": sshd.port,
            "user": sshd.user,
            "fingerprint": sshd.fingerprint,
            "private_key": sshd.client_key,
            "addresses": sshd.addresses,
        },
        "marker_dir": marker_dir,
        "artifacts_dir": artifacts,
        "long_sleep_marker": long_sleep_marker,
    });
    let config_file = work.path().join("e2e-config.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let status = run_e2e("workflow.mjs", &root, &config_file, &artifacts, WORKFLOW_TIMEOUT).await;

    assert!(
        status.success(),
        "the UI workflow failed ({status}); screenshots and page dumps in {}",
        artifacts.display()
    );
    let deploy = task_named(&app, "ui-deploy").await;
    assert_eq!(deploy["status"], "success", "{deploy}");
    let run = app.get(&format!("/api/v1/tasks/{}/run", deploy["id"]), &app.admin_token).await.expect(200);
    assert_eq!(run["attempt"], 2, "one redo after the failure: {run}");
    let long = task_named(&app, "ui-long").await;
    assert_eq!(long["status"], "aborted", "{long}");
    let survivors = processes_matching(&long_sleep_marker);
    assert!(survivors.is_empty(), "the aborted command still runs: {survivors:?}");
}
