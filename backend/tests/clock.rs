//! Time-driven behaviour with the clock moved forward, not waited for: a task due in an
//! hour starts when the clock gets there, and an approval request expires at its
//! deadline. The clock belongs to the process, so these run in a test binary of their
//! own, one test, one scenario after the other.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::Duration;

use serde_json::json;

use helpers::{spawn_app, Backend, TestApp};

async fn status(app: &TestApp, id: i64) -> String {
    app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["status"].as_str().unwrap().to_string()
}

/// Waits (bounded) for the task to reach `wanted`: it gets there on an event (the clock
/// moved and woke the loop), not on the passing of real time.
async fn wait_status(app: &TestApp, id: i64, wanted: &str) {
    for _ in 0..100 {
        if status(app, id).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id} is {}, never {wanted}", status(app, id).await);
}

fn in_an_hour() -> String {
    let at = taskgate::clock::now_ms() + 3_600_000;
    chrono::DateTime::from_timestamp_millis(at).unwrap().to_rfc3339()
}

async fn a_task_due_in_an_hour_starts_when_the_clock_gets_there(app: &TestApp) {
    let tpl = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "later", "steps": [{"name": "s", "group": "local", "script": "echo later"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let task = app
        .post(
            "/api/v1/tasks",
            &app.admin_token,
            &json!({"template_id": tpl, "schedule": "ready", "exec_time": in_an_hour()}),
        )
        .await
        .expect(201);
    let id = task["id"].as_i64().unwrap();
    assert_eq!(status(app, id).await, "ready");
    app.state().advance_clock(Duration::from_secs(3_599));
    // A second early: the dispatcher, woken, finds nothing due.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(app, id).await, "ready", "started before its exec_time");
    app.state().advance_clock(Duration::from_secs(2));
    wait_status(app, id, "success").await;
}

async fn an_unanswered_approval_request_expires_at_its_deadline(app: &TestApp) {
    app.put("/api/v1/policy", &app.admin_token, &json!({"allow_self_approval": false, "approval_timeout_secs": 3600}))
        .await
        .expect(200);
    let template = app.deploy_template().await;
    let id = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    assert_eq!(status(app, id).await, "new");
    app.state().advance_clock(Duration::from_secs(3_601));
    wait_status(app, id, "expired").await;
}

/// A ticket opens its path for a minute; a stream opened with it lasts as long as the
/// session it was taken with, not the ticket.
async fn a_ticket_runs_out_after_a_minute_but_its_stream_does_not(app: &TestApp) {
    let changes = "/api/v1/tasks/changes";
    let (first, second, third) = (
        app.ticket(&app.admin_token, changes).await,
        app.ticket(&app.admin_token, changes).await,
        app.ticket(&app.admin_token, changes).await,
    );
    let url = |ticket: &str| app.url(&format!("{changes}?ticket={ticket}"));
    let mut stream = app.client.get(url(&first)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    app.state().advance_clock(Duration::from_secs(59));
    assert_eq!(app.client.get(url(&second)).send().await.unwrap().status(), 200, "refused within its minute");
    app.state().advance_clock(Duration::from_secs(2));
    assert_eq!(app.client.get(url(&third)).send().await.unwrap().status(), 401, "opened after its minute");

    // The stream opened in time still reports what happens now.
    let template = app
        .post(
            "/api/v1/templates",
            &app.admin_token,
            &json!({"name": "seen", "steps": [{"name": "s", "group": "local", "script": "true"}]}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let id = app
        .post("/api/v1/tasks", &app.admin_token, &json!({"template_id": template, "schedule": "new"}))
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let mut seen = String::new();
    let reported = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&format!("\"id\":{id},")) {
                return;
            }
        }
        panic!("the stream ended: {seen}");
    })
    .await;
    assert!(reported.is_ok(), "the stream did not report task {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_driven_behaviour_follows_the_clock_not_the_wall() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(backend).await;
        a_task_due_in_an_hour_starts_when_the_clock_gets_there(&app).await;
        an_unanswered_approval_request_expires_at_its_deadline(&app).await;
        a_ticket_runs_out_after_a_minute_but_its_stream_does_not(&app).await;
    }
}
