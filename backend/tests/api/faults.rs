//! Faults of the machine under the server: a full disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app_with, Backend, TestApp};

/// A small tmpfs, unmounted when dropped (the tests run as root, as CI does).
struct SmallDisk {
    dir: PathBuf,
    _holder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> SmallDisk {
        let holder = tempfile::tempdir().unwrap();
        let dir = holder.path().join("disk");
        std::fs::create_dir(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root (CI runs as root): {status}");
        SmallDisk { dir, _holder: holder }
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        // Whatever is left (less than a block) goes too.
        while f.write_all(&[0u8]).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

async fn health(app: &TestApp) -> (u16, String) {
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Waits (bounded) until `/healthz` answers `status`.
async fn wait_health(app: &TestApp, status: u16) -> String {
    let mut last = (0, String::new());
    for _ in 0..300 {
        last = health(app).await;
        if last.0 == status {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/healthz never answered {status}; last: {last:?}");
}

fn local_task(template: i64) -> serde_json::Value {
    json!({"template_id": template, "schedule": "ready"})
}

/// The disk fills up under a running server: writes fail cleanly, `/healthz` says so,
/// and once space is freed the server works again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_cleanly_and_the_server_recovers_when_space_returns() {
    let disk = SmallDisk::mount(16);
    let db_path: &Path = &disk.dir.join("taskgate.db");
    let url = format!("sqlite://{}", db_path.display());
    let app = spawn_app_with(Backend::Sqlite, |s| s.database_url = url.clone()).await;
    let t = &app.admin_token;
    let template =
        app.template("local", json!({}), json!([{"name": "s", "group": "local", "script": "echo hello"}])).await;
    let first = app.post("/api/v1/tasks", t, &local_task(template)).await.expect(201);
    app.wait_status(first["id"].as_i64().unwrap(), &["success"]).await;
    assert_eq!(health(&app).await.0, 200);

    let filler = disk.fill();
    // Writes fail now: with an error, never a half-written task.
    let mut refused = 0;
    for _ in 0..5 {
        let a = app.post("/api/v1/tasks", t, &local_task(template)).await;
        if a.status.as_u16() == 201 {
            // SQLite may still fit a small commit in a page it had; fill again.
            disk.fill();
            continue;
        }
        assert_eq!(a.status.as_u16(), 500, "a failed write is an internal error: {:?}", a);
        assert_eq!(a.body["code"], "internal");
        refused += 1;
    }
    assert!(refused > 0, "the full disk never refused a write");
    let why = wait_health(&app, 503).await;
    assert!(why.contains("does not take writes"), "{why}");
    let listed = app.get("/api/v1/tasks", t).await.expect(200);
    for task in listed["items"].as_array().unwrap() {
        // Every task that exists is whole.
        app.get(&format!("/api/v1/tasks/{}", task["id"]), t).await.expect(200);
    }

    // Space comes back: the server recovers by itself.
    std::fs::remove_file(&filler).unwrap();
    wait_health(&app, 200).await;
    let again = app.post("/api/v1/tasks", t, &local_task(template)).await.expect(201);
    let run = app.wait_status(again["id"].as_i64().unwrap(), &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "a ready task starts and runs after recovery: {run}");
}
