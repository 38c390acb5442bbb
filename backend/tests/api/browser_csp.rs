//! The Content-Security-Policy in a real browser: frontend/e2e/docs.mjs loads Swagger UI
//! and the web UI's start page in Debian's Chromium and fails on any CSP violation or
//! console error. (The whole UI workflow under the same policy is ui.rs.)

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_serving, Backend};

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_and_the_web_ui_render_in_chromium_without_csp_violations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    crate::ui::check_prerequisites(&root);
    let app = spawn_app_serving(Backend::Sqlite, &root.join("static")).await;
    let work = tempfile::tempdir().unwrap();
    let artifacts = root.join("test-artifacts/csp");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = work.path().join("config.json");
    std::fs::write(&config, json!({"base_url": app.base, "artifacts_dir": artifacts}).to_string()).unwrap();

    let status = crate::ui::run_e2e("docs.mjs", &root, &config, &artifacts, TIMEOUT).await;
    assert!(status.success(), "CSP check in Chromium failed ({status}); screenshots in {}", artifacts.display());
}
