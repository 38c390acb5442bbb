//! Email: notifications reach a real SMTP server (aiosmtpd, started by the test) with the
//! right recipients and link; with the SMTP server down, mail is retried until it is up,
//! and the task is not affected.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::sshd::free_port;

/// A real SMTP server on loopback that keeps every message it accepts.
struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start(port: u16) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .args([script, "127.0.0.1", &port.to_string()])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP sink needs aiosmtpd: `bash scripts/test.sh` installs it");
        SmtpSink { child, dir }
    }

    fn messages(&self) -> Vec<Value> {
        let mut found: Vec<(u64, Value)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let n = name.strip_suffix(".json")?.parse().ok()?;
                Some((n, serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?))
            })
            .collect();
        found.sort_by_key(|(n, _)| *n);
        found.into_iter().map(|(_, v)| v).collect()
    }

    /// Waits for `count` messages (the mailer works in the background).
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= count || start.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn app_mailing_to(backend: Backend, port: u16) -> TestApp {
    spawn_app_with(backend, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.public_url = Some("https://taskgate.example.test".into());
        s.mail_from = "Taskgate <taskgate@example.test>".into();
    })
    .await
}

async fn user_with_email(app: &TestApp, name: &str, role: &str, groups: &[&str]) -> String {
    let body = json!({"username": name, "password": crate::helpers::PASSWORD, "role": role,
                      "email": format!("{name}@example.test"), "groups": groups});
    app.post("/api/v1/users", &app.admin_token, &body).await.expect(201);
    app.login(name, crate::helpers::PASSWORD).await
}

async fn wait_task(app: &TestApp, id: i64, wanted: &str) -> Value {
    let start = Instant::now();
    loop {
        let task = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
        if task["status"] == wanted || start.elapsed() > Duration::from_secs(30) {
            assert_eq!(task["status"], wanted);
            return task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn subject_of(mail: &Value) -> String {
    let data = mail["data"].as_str().unwrap();
    data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string()
}

fn recipients(mail: &Value) -> Vec<String> {
    let mut to: Vec<String> = mail["rcpt_tos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    to.sort();
    to
}

async fn approval_and_outcome_mail_reach_the_right_people(backend: Backend) {
    let port = free_port();
    let sink = SmtpSink::start(port);
    let app = app_mailing_to(backend, port).await;
    let otto = user_with_email(&app, "otto", "operator", &[]).await;
    let april = user_with_email(&app, "april", "approver", &[]).await;
    user_with_email(&app, "gina", "viewer", &["release-managers"]).await;
    user_with_email(&app, "vic", "viewer", &[]).await;
    let tpl = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "hello", "approver_group": "release-managers",
                    "steps": [{"name": "say", "group": "local", "script": "echo hello"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let task = app
        .post(
            "/api/v1/tasks",
            &otto,
            &json!({"template_id": tpl, "schedule": "new", "name": "say hello",
                    "associated_users": ["vic", "ops-list@example.test", "gina@example.test"]}),
        )
        .await
        .expect(201);
    let id = task["id"].as_i64().unwrap();

    let got = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "one approval request");
    // Approvers and the template's approver group; not the submitter, not other viewers.
    assert_eq!(recipients(&got[0]), vec!["april@example.test", "gina@example.test"]);
    assert_eq!(got[0]["mail_from"], "taskgate@example.test");
    assert!(subject_of(&got[0]).contains(&format!("Approval requested: #{id} say hello")), "{}", subject_of(&got[0]));
    assert!(got[0]["data"].as_str().unwrap().contains(&format!("https://taskgate.example.test/tasks/{id}")));

    app.post(&format!("/api/v1/tasks/{id}/approve"), &april, &json!({})).await.expect(200);
    wait_task(&app, id, "success").await;
    let got = sink.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2, "and one outcome mail");
    // Only Taskgate's users: by name, or by their own address; an address nobody has gets nothing.
    assert_eq!(recipients(&got[1]), vec!["gina@example.test", "otto@example.test", "vic@example.test"]);
    assert!(subject_of(&got[1]).contains(&format!("Task #{id} success")), "{}", subject_of(&got[1]));
    assert!(got[1]["data"].as_str().unwrap().contains(&format!("https://taskgate.example.test/tasks/{id}")));

    // Both are on record as sent.
    let record = app.get(&format!("/api/v1/mail?task_id={id}"), &app.admin_token).await.expect(200);
    let statuses: Vec<&str> = record.as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["sent", "sent"]);
    assert_eq!(app.get("/api/v1/mail", &app.admin_token).await.expect(200).as_array().unwrap().len(), 2, "unfiltered");
    app.get("/api/v1/mail", &otto).await.expect_error(403, "forbidden", None);
}

async fn mail_waits_for_a_down_smtp_server_and_the_task_goes_on(backend: Backend) {
    let port = free_port(); // nothing listens here yet
    let app = app_mailing_to(backend, port).await;
    let otto = user_with_email(&app, "otto", "operator", &[]).await;
    let tpl = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "hello", "steps": [{"name": "say", "group": "local", "script": "echo hello"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let id = app.post("/api/v1/tasks", &otto, &json!({"template_id": tpl, "schedule": "ready"})).await.expect(201)
        ["id"]
        .as_i64()
        .unwrap();
    wait_task(&app, id, "success").await;

    // The send failed and is recorded as pending, with the error.
    let start = Instant::now();
    let pending = loop {
        let record = app.get(&format!("/api/v1/mail?task_id={id}"), &app.admin_token).await.expect(200);
        let first = record[0].clone();
        if first["attempts"].as_i64().unwrap_or(0) >= 1 || start.elapsed() > Duration::from_secs(20) {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(pending["attempts"].as_i64().unwrap() >= 1, "{pending}");
    assert!(!pending["last_error"].as_str().unwrap().is_empty(), "{pending}");

    // The SMTP server comes up: the retry delivers it.
    let sink = SmtpSink::start(port);
    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 1, "the mail arrives after the server is back");
    assert_eq!(recipients(&got[0]), vec!["otto@example.test"]);
    assert!(subject_of(&got[0]).contains(&format!("Task #{id} success")));
    let record = app.get(&format!("/api/v1/mail?task_id={id}"), &app.admin_token).await.expect(200);
    assert_eq!(record[0]["status"], "sent");
    assert_eq!(app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["status"], "success");
}

crate::both_backends!(
    approval_and_outcome_mail_reach_the_right_people,
    mail_waits_for_a_down_smtp_server_and_the_task_goes_on
);
