//! The live stream of all tasks: lists and counters learn of submissions and changes made
//! anywhere, without polling.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

/// Reads `task` events from the stream until `done` holds for the events so far.
async fn until(resp: reqwest::Response, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let (mut events, mut buf, mut body) = (vec![], String::new(), resp.bytes_stream());
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(20), body.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                assert!(block.contains("event: task"), "{block}");
                events.push(serde_json::from_str(data.trim_start()).unwrap());
                if done(&events) {
                    return events;
                }
            }
        }
    }
    panic!("the stream ended or went quiet; events so far: {events:?}");
}

async fn the_task_stream_reports_submissions_and_decisions_made_elsewhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let old = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let viewer = app.user("watcher", "viewer", &[]).await;
    let open = |token: String| {
        let app = &app;
        async move {
            let ticket = app.ticket(&token, "/api/v1/tasks/changes").await;
            let resp = app.client.get(app.url(&format!("/api/v1/tasks/changes?ticket={ticket}"))).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            resp
        }
    };
    let stream = open(viewer.clone()).await;
    // Made by someone else, after the stream opened: a submission, then a cancellation.
    let new = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let events = until(stream, |e| e.iter().any(|e| e["id"] == new)).await;
    assert!(events.iter().all(|e| e["id"] != old), "what existed before is not repeated: {events:?}");
    let first = events.iter().find(|e| e["id"] == new).unwrap();
    assert_eq!(first["status"], "new");

    let stream = open(viewer.clone()).await;
    app.post(&format!("/api/v1/tasks/{new}/cancel"), &app.admin_token, &serde_json::json!({})).await.expect(200);
    let events = until(stream, |e| e.iter().any(|e| e["id"] == new && e["status"] == "cancelled")).await;
    assert!(events.iter().all(|e| e["updated_at"].as_str().is_some_and(|t| t.ends_with('Z'))));

    // Without a valid token, nothing.
    let bad = app.client.get(app.url("/api/v1/tasks/changes?ticket=nope")).send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let by_token = app.client.get(app.url(&format!("/api/v1/tasks/changes?ticket={viewer}"))).send().await.unwrap();
    assert_eq!(by_token.status(), 401, "a session token is no ticket");
    assert_eq!(app.client.get(app.url("/api/v1/tasks/changes")).send().await.unwrap().status(), 401);
}

both_backends!(the_task_stream_reports_submissions_and_decisions_made_elsewhere);
