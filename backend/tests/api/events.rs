//! The live event stream (SSE): lines arrive while the task runs, and a reconnect with
//! Last-Event-ID continues where the first connection stopped.

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sshd::TestSshd;

/// Reads SSE events from a response until `stop` says so or the stream ends.
async fn read_events(resp: reqwest::Response, mut stop: impl FnMut(&Value) -> bool) -> Vec<(i64, String, Value)> {
    let mut events = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Ok(Some(chunk)) = tokio::time::timeout(std::time::Duration::from_secs(30), body.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (0, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().unwrap_or(0);
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue; // keep-alive
            }
            let value: Value = serde_json::from_str(&data).expect("event data is JSON");
            let done = stop(&value);
            events.push((id, kind, value));
            if done {
                return events;
            }
        }
    }
    events
}

async fn open(app: &TestApp, id: i64, last_event_id: Option<i64>) -> reqwest::Response {
    let mut req = app.client.get(app.url(&format!("/api/v1/tasks/{id}/events"))).bearer_auth(&app.admin_token);
    if let Some(last) = last_event_id {
        req = req.header("Last-Event-ID", last.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    resp
}

async fn the_event_stream_is_live_and_resumes_after_a_reconnect(backend: Backend) {
    let app = spawn_app(backend).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app
        .template(
            "ticker",
            json!({}),
            json!([
                {"name": "tick", "group": "1", "script": "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.4; done"}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": [hosts[0]]})).await;

    let first = read_events(open(&app, id, None).await, |e| e["text"] == "line 3").await;
    let status_now = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200)["status"].clone();
    assert_eq!(status_now, "running", "line 3 arrived while the task was still running");
    let (last_id, _, _) = first.last().unwrap().clone();
    assert!(first.iter().any(|(_, kind, e)| kind == "task" && e["status"] == "running"));
    assert!(first.iter().any(|(_, kind, e)| kind == "pair" && e["status"] == "running" && e["host"] == "h1"));

    // Reconnect where we left off; the stream ends when the task is over.
    let rest = read_events(open(&app, id, Some(last_id)).await, |_| false).await;
    assert!(rest.iter().all(|(eid, _, _)| *eid > last_id), "nothing repeated");
    let ids: Vec<i64> = first.iter().chain(rest.iter()).map(|(i, _, _)| *i).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let lines: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .filter(|(_, kind, e)| kind == "log" && e["stream"] == "stdout")
        .map(|(_, _, e)| e["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lines, (1..=6).map(|i| format!("line {i}")).collect::<Vec<_>>());
    assert!(rest.iter().any(|(_, kind, e)| kind == "pair" && e["status"] == "success"));
    assert_eq!(
        rest.last().map(|(_, kind, e)| (kind.as_str(), e["status"].clone())),
        Some(("task", json!("success"))),
        "the stream ends with the task's status"
    );

    // ?after= works the same as the header, and a finished task's stream ends at once.
    let replay = read_events(
        app.client
            .get(app.url(&format!("/api/v1/tasks/{id}/events?after={last_id}")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap(),
        |_| false,
    )
    .await;
    assert_eq!(replay.len(), rest.len());

    // The run view names the latest event, so a page can follow from there on.
    let run = app.get(&format!("/api/v1/tasks/{id}/run"), &app.admin_token).await.expect(200);
    assert_eq!(run["last_event_id"], ids.last().copied().unwrap(), "the stream's last event id");

    // A browser's EventSource sends no headers: it passes a ticket, never the token.
    let url = |ticket: &str| app.url(&format!("/api/v1/tasks/{id}/events?after={last_id}&ticket={ticket}"));
    let ticket = app.ticket(&app.admin_token, &format!("/api/v1/tasks/{id}/events")).await;
    let by_query = read_events(app.client.get(url(&ticket)).send().await.unwrap(), |_| false).await;
    assert_eq!(by_query.len(), rest.len());
    assert_eq!(app.client.get(url("not-a-token")).send().await.unwrap().status(), 401);
    assert_eq!(app.client.get(url(&app.admin_token)).send().await.unwrap().status(), 401, "a token is no ticket");
    let bare = app.client.get(app.url(&format!("/api/v1/tasks/{id}/events"))).send().await.unwrap();
    assert_eq!(bare.status(), 401);
}

/// Opens the stream of task `id` with a ticket taken with `token`, as a browser does.
async fn open_with(app: &TestApp, id: i64, token: &str) -> reqwest::Response {
    let ticket = app.ticket(token, &format!("/api/v1/tasks/{id}/events")).await;
    let resp = app.client.get(app.url(&format!("/api/v1/tasks/{id}/events?ticket={ticket}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// Reads the stream until it ends; `None` when it is still open after a generous wait.
async fn until_the_end(resp: reqwest::Response) -> Option<()> {
    let mut body = resp.bytes_stream();
    let drained = async {
        while let Some(chunk) = body.next().await {
            chunk.expect("stream chunk");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), drained).await.ok()
}

async fn a_live_stream_ends_when_its_credential_is_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    // A task that stays running: its one step waits for a release that never comes.
    let tpl = app
        .template("held", json!({}), json!([{"name": "gate", "group": "local", "script": "true", "trigger": "manual"}]))
        .await;
    let id = app.run_task(tpl, json!({}), json!({})).await;
    app.wait_pair(id, "waiting").await;

    let viewer = app.user("watcher", "viewer", &[]).await;
    let token =
        app.post("/api/v1/tokens", &viewer, &json!({"name": "dashboard", "scopes": ["read"]})).await.expect(201);
    let (api, token_id) = (token["token"].as_str().unwrap(), token["info"]["id"].as_str().unwrap());
    let by_token = open_with(&app, id, api).await;
    let by_session = open_with(&app, id, &viewer).await;

    app.delete(&format!("/api/v1/tokens/{token_id}"), &viewer).await.expect(200);
    assert!(until_the_end(by_token).await.is_some(), "the stream of a revoked token ended");

    // The session's stream lives on until the user is disabled.
    let me = app.get("/api/v1/me", &viewer).await.expect(200);
    app.put(&format!("/api/v1/users/{}", me["id"]), &app.admin_token, &json!({"disabled": true})).await.expect(200);
    assert!(until_the_end(by_session).await.is_some(), "the stream of a disabled user ended");
    let task = app.get(&format!("/api/v1/tasks/{id}"), &app.admin_token).await.expect(200);
    assert_eq!(task["status"], "running", "the streams ended for their credentials, not because the task did");
}

/// Many pairs write status events while the log writer writes lines, all for one task:
/// a stream that follows the task from the start sees every stored event exactly once,
/// numbered 1, 2, 3, … with no gap (on PostgreSQL, ids from a sequence commit out of
/// order, and a stream following `id > cursor` used to skip some).
async fn a_stream_under_concurrent_writers_loses_and_repeats_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let addresses: Vec<String> = (1..=8).map(|i| format!("127.0.0.{i}")).collect();
    let sshd = TestSshd::start_on(&addresses.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let hosts = app.register_hosts(&sshd).await;
    let steps: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("s{i}"), "group": "1", "script": format!("seq 1 300 | sed 's/^/step {i} line /'")}))
        .collect();
    let tpl = app.template("chatty", json!({"strategy": "free"}), Value::Array(steps)).await;
    let task = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    let events = read_events(open(&app, task, None).await, |_| false).await;
    let ids: Vec<i64> = events.iter().map(|(id, _, _)| *id).collect();
    let last = *ids.last().expect("some events");
    assert!(last > 8 * 10 * 300, "{last} events for 24000 log lines");
    let expected: Vec<i64> = (1..=last).collect();
    if ids != expected {
        let missing: Vec<i64> = expected.iter().filter(|i| !ids.contains(i)).copied().take(20).collect();
        panic!("{} events for numbers 1..={last}; first missing: {missing:?}", ids.len());
    }
    let run = app.wait_status(task, &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["last_event_id"], last, "the stream ended at the task's last event");
    let stored = app.all_logs(task).await.len();
    let streamed_lines = events.iter().filter(|(_, kind, _)| kind == "log").count();
    assert_eq!(streamed_lines, stored, "every stored log line was streamed once");
}

/// `batch=true`: the same events, in the same order, in a few messages: pair changes as
/// `pairs`, log lines as `logs` (never mixed, at most 500 each, the SSE id the last
/// event's), a task's change alone as `task`, just as unbatched.
async fn a_batched_stream_carries_the_same_events_in_few_messages(backend: Backend) {
    let app = spawn_app(backend).await;
    let steps: Vec<Value> = (0..3)
        .map(|i| json!({"name": format!("s{i}"), "group": "local", "script": format!("seq 1 700 | sed 's/^/step {i} line /'")}))
        .collect();
    let tpl = app.template("chatty-local", json!({}), Value::Array(steps)).await;
    let task = app.run_task(tpl, json!({}), json!({})).await;
    let batched = async {
        let resp = app
            .client
            .get(app.url(&format!("/api/v1/tasks/{task}/events?batch=true")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        read_events(resp, |_| false).await
    };
    // Both followed live, at once, to the end of the task.
    let (plain, batched) = tokio::join!(async { read_events(open(&app, task, None).await, |_| false).await }, batched);
    let mut flat = vec![];
    for (id, kind, data) in &batched {
        match kind.as_str() {
            "task" => {
                assert_eq!(data["kind"], "task", "{data}");
                assert_eq!(data["id"], *id);
                flat.push(data.clone());
            }
            "pairs" | "logs" => {
                let events = data["events"].as_array().unwrap_or_else(|| panic!("no events in {data}"));
                assert!(!events.is_empty() && events.len() <= 500, "{} events in one message", events.len());
                let want = if kind == "pairs" { "pair" } else { "log" };
                assert!(events.iter().all(|e| e["kind"] == want), "a {kind} message holds only {want} events");
                assert_eq!(events.last().unwrap()["id"], *id, "the message's id is its last event's");
                flat.extend(events.iter().cloned());
            }
            other => panic!("unexpected event type {other:?}"),
        }
    }
    let plain: Vec<Value> = plain.into_iter().map(|(_, _, e)| e).collect();
    assert!(plain.len() > 2100, "{} events for 2100 log lines", plain.len());
    assert_eq!(flat, plain, "the same events in the same order");
    assert!(batched.len() * 10 < plain.len(), "{} messages for {} events", batched.len(), plain.len());
    assert_eq!(
        batched.last().map(|(_, kind, e)| (kind.as_str(), e["status"].clone())),
        Some(("task", json!("success")))
    );
}

both_backends!(
    a_batched_stream_carries_the_same_events_in_few_messages,
    a_stream_under_concurrent_writers_loses_and_repeats_nothing,
    the_event_stream_is_live_and_resumes_after_a_reconnect,
    a_live_stream_ends_when_its_credential_is_revoked
);
