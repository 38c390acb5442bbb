//! Reading a log as the log viewer does: the last page first, older pages backwards to the
//! start, the live stream with one pair's lines only, and the raw text downloaded.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

const A_LINES: usize = 300;
const B_LINES: usize = 50;

/// A finished task with two local steps: step 1 prints `a 1`…`a 300`, step 2 `b 1`…`b 50`.
async fn two_step_task(app: &TestApp) -> i64 {
    let count = |p: &str, n: usize| format!("i=1; while [ $i -le {n} ]; do echo \"{p} $i\"; i=$((i + 1)); done");
    let tpl = app
        .template(
            "two logs",
            json!({}),
            json!([{"name": "a", "group": "local", "script": count("a", A_LINES)},
                   {"name": "b", "group": "local", "script": count("b", B_LINES)}]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    id
}

fn texts(lines: &Value) -> Vec<String> {
    lines.as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_string()).collect()
}

async fn the_log_pages_backwards_from_its_end_to_its_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = two_step_task(&app).await;
    let page = |before: i64| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/tasks/{id}/logs?step=0&host=local&before={before}&limit=120"), &app.admin_token)
                .await
                .expect(200)
        }
    };
    // The last page is the end of the log, in order.
    let mut pages = vec![page(i64::MAX).await];
    let last = texts(&pages[0]["lines"]);
    assert_eq!(last.len(), 120);
    assert!(last.iter().rfind(|t| t.starts_with("a ")).is_some_and(|t| t == "a 300"), "{last:?}");
    // Each page before the first line shown, until a short one: the whole log, once.
    while pages.last().unwrap()["lines"].as_array().unwrap().len() == 120 {
        let first = pages.last().unwrap()["lines"][0]["id"].as_i64().unwrap();
        pages.push(page(first).await);
    }
    let mut all: Vec<Value> = vec![];
    for p in pages.iter().rev() {
        all.extend(p["lines"].as_array().unwrap().iter().cloned());
    }
    let ids: Vec<i64> = all.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
    let forward =
        app.get(&format!("/api/v1/tasks/{id}/logs?step=0&host=local&limit=5000"), &app.admin_token).await.expect(200);
    assert_eq!(Value::Array(all), forward["lines"], "backwards pages add up to the log read forwards");
    let stdout: Vec<String> = texts(&forward["lines"]).into_iter().filter(|t| t.starts_with("a ")).collect();
    assert_eq!(stdout, (1..=A_LINES).map(|i| format!("a {i}")).collect::<Vec<_>>());

    for bad in ["0", "-5"] {
        app.get(&format!("/api/v1/tasks/{id}/logs?before={bad}"), &app.admin_token).await.expect_error(
            422,
            "invalid",
            Some("before"),
        );
    }
}

async fn a_stream_for_one_pair_carries_its_lines_and_every_status_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = two_step_task(&app).await;
    let body = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}/events?log_step=1&log_host=local")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim_start()).unwrap())
        .collect();
    let logs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "log").collect();
    assert!(logs.iter().all(|e| e["step"] == 1), "only step 2's lines");
    let b: Vec<&str> = logs.iter().filter_map(|e| e["text"].as_str()).filter(|t| t.starts_with("b ")).collect();
    assert_eq!(b.len(), B_LINES);
    for step in [0, 1] {
        assert!(
            events.iter().any(|e| e["kind"] == "pair" && e["step"] == step && e["status"] == "success"),
            "step {step}'s status change is in the stream"
        );
    }
    assert!(events.iter().any(|e| e["kind"] == "task" && e["status"] == "success"));
    let all = app.count_events_containing(id, "").await;
    assert!((events.len() as i64) < all, "step 1's {A_LINES} lines were left out");

    for (query, field) in [("log_step=1", "log_host"), ("log_host=local", "log_step")] {
        app.get(&format!("/api/v1/tasks/{id}/events?{query}"), &app.admin_token).await.expect_error(
            422,
            "invalid",
            Some(field),
        );
    }
}

async fn a_log_downloads_as_plain_text_for_a_pair_and_for_the_attempt(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = two_step_task(&app).await;
    let token = &app.admin_token;
    // `ticket` in the query stands for a fresh ticket (each is good once).
    let get = |query: String| {
        let app = &app;
        async move {
            let fresh = app.ticket(token, &format!("/api/v1/tasks/{id}/logs/text")).await;
            let query = query.replace("ticket=TICKET", &format!("ticket={fresh}"));
            app.client.get(app.url(&format!("/api/v1/tasks/{id}/logs/text?{query}"))).send().await.unwrap()
        }
    };

    // One pair: exactly its lines, as written, with a file name.
    let resp = get("step=0&host=local&ticket=TICKET".to_string()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(
        resp.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"task-{id}-attempt-1-step-1-local.log\"")
    );
    let text = resp.text().await.unwrap();
    let logged = app.get(&format!("/api/v1/tasks/{id}/logs?step=0&host=local&limit=5000"), token).await.expect(200)
        ["lines"]
        .clone();
    let expected: String = texts(&logged).iter().map(|t| format!("{t}\n")).collect();
    assert_eq!(text, expected);
    assert!(text.contains("a 1\na 2\n") && text.contains("a 300\n"));

    // The whole attempt: every pair's lines, each naming its host and step.
    let whole = get("ticket=TICKET".to_string()).await.text().await.unwrap();
    assert_eq!(whole.lines().filter(|l| l.starts_with("local step 1: a ")).count(), A_LINES);
    assert_eq!(whole.lines().filter(|l| l.starts_with("local step 2: b ")).count(), B_LINES);
    assert!(whole.find("local step 1: a 300").unwrap() < whole.find("local step 2: b 1").unwrap(), "in order");

    // A bearer token works too; without one, nothing; the token itself is no ticket.
    let by_header = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}/logs/text?step=1&host=local")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    assert_eq!(get("step=1&host=local".into()).await.status(), 401);
    assert_eq!(get(format!("step=1&host=local&ticket={token}")).await.status(), 401);

    // Bad selections are named; a hostile host name cannot reach the header.
    for (query, field) in [("step=0", "host"), ("host=local", "step"), ("attempt=0", "attempt")] {
        let resp = get(format!("{query}&ticket=TICKET")).await;
        assert_eq!(resp.status(), 422, "{query}");
        assert_eq!(resp.json::<Value>().await.unwrap()["field"], field, "{query}");
    }
    let resp = get("step=0&host=..%2F..%2Fetc%0D%0ASet-Cookie:%20x=1&ticket=TICKET".to_string()).await;
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(!disposition.contains('/') && !disposition.contains('\r') && !resp.headers().contains_key("set-cookie"));
    assert_eq!(resp.text().await.unwrap(), "", "no such pair: nothing to send");
    assert_eq!(get("ticket=TICKET".to_string()).await.status(), 200);
    let missing_ticket = app.ticket(token, "/api/v1/tasks/999999/logs/text").await;
    let missing = app
        .client
        .get(app.url(&format!("/api/v1/tasks/999999/logs/text?ticket={missing_ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

both_backends!(
    the_log_pages_backwards_from_its_end_to_its_start,
    a_stream_for_one_pair_carries_its_lines_and_every_status_change,
    a_log_downloads_as_plain_text_for_a_pair_and_for_the_attempt,
);
