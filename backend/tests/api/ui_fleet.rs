//! The task page at fleet scale in a real browser: frontend/e2e/fleet.mjs watches a
//! 300-host × 3-step run on a real sshd live in Chromium, with a long-task observer, and
//! uses the failure summary, the status chips, the virtualised grid and the log tools.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_serving, Backend, ADMIN_PASSWORD};
use crate::sshd::{HostShell, TestSshd};

const TIMEOUT: Duration = Duration::from_secs(300);
const HOSTS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_host_run_stays_responsive_and_its_failures_are_found_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    crate::ui::check_prerequisites(&root);
    let app = spawn_app_serving(Backend::Sqlite, &root.join("static")).await;
    // A plain login shell: root's ~/.bashrc here is heavy enough to be timed instead of the page.
    let sshd = TestSshd::start_as(HostShell::Dash).await;
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": "fleet key", "kind": "private_key", "secret": sshd.client_key}),
        )
        .await
        .expect(201)["id"]
        .clone();
    // Every host is the one sshd under another name, as a fleet's hosts would be.
    let names: Vec<String> = (1..=HOSTS).map(|i| format!("web{i:03}")).collect();
    for name in &names {
        app.post(
            "/api/v1/hosts",
            &app.admin_token,
            &json!({"name": name, "address": sshd.addresses[0], "port": sshd.port, "user": sshd.user,
                    "credential_id": cred, "host_key_fingerprint": sshd.fingerprint}),
        )
        .await
        .expect(201);
    }
    // A manual first step holds the run until the page releases it; hosts ending in 7 fail step 2.
    let template = app
        .template(
            "fleet deploy",
            json!({}),
            json!([
                {"name": "prepare", "group": "1", "trigger": "manual", "script": "echo one"},
                {"name": "install", "group": "1",
                 "script": "h={{ HOST }}; case \"$h\" in *7) echo \"disk full on $h\" >&2; exit 3;; esac; echo two"},
                {"name": "check", "group": "1", "script": "echo three"}
            ]),
        )
        .await;
    let task = app
        .post(
            "/api/v1/tasks",
            &app.admin_token,
            &json!({"template_id": template, "schedule": "ready", "hosts": {"1": names}, "concurrency": HOSTS}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    app.wait_pair(task, "waiting").await;

    let work = tempfile::tempdir().unwrap();
    let artifacts = root.join("test-artifacts/fleet");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = work.path().join("config.json");
    let failing: Vec<&String> = names.iter().filter(|n| n.ends_with('7')).collect();
    let cfg = json!({"base_url": app.base, "artifacts_dir": artifacts, "admin_password": ADMIN_PASSWORD,
                     "task": task, "hosts": HOSTS, "failing": failing, "last_host": names.last()});
    std::fs::write(&config, cfg.to_string()).unwrap();

    let status = crate::ui::run_e2e("fleet.mjs", &root, &config, &artifacts, TIMEOUT).await;
    assert!(status.success(), "the fleet check in Chromium failed ({status}); screenshots in {}", artifacts.display());

    // What the page showed is what the server holds.
    let run = app.wait_status(task, &["failed", "success"]).await;
    let failed: Vec<&str> = run["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "failed")
        .map(|p| p["host"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), failing.len());
}
