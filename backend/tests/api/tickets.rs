//! Tickets: what a browser puts in a URL (an EventSource, a download link) instead of its
//! session token. Each opens one path for a minute, is no bearer token, and stops working
//! with the session or API token it was taken with.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

async fn status_of(app: &TestApp, path_and_query: &str) -> u16 {
    app.client.get(app.url(path_and_query)).send().await.unwrap().status().as_u16()
}

async fn a_ticket_opens_its_own_path_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let a = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let b = app.submit(&app.admin_token, template, "new").await.expect(201)["id"].as_i64().unwrap();
    let viewer = app.user("looker", "viewer", &[]).await;

    let events_a = format!("/api/v1/tasks/{a}/events");
    let answer = app.post("/api/v1/auth/tickets", &viewer, &json!({ "path": events_a })).await.expect(201);
    let ticket = answer["ticket"].as_str().unwrap().to_string();
    let expires = chrono::DateTime::parse_from_rfc3339(answer["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    assert!((50_000..=61_000).contains(&left), "a ticket lasts a minute, not {left} ms");
    assert_ne!(ticket, viewer, "a ticket is not the session token");

    // Its own path: open. Any other (another task, another kind, the list of changes): refused.
    let stream = app.client.get(app.url(&format!("{events_a}?ticket={ticket}"))).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    drop(stream);
    // Good once: the same URL again (a leaked log line, a history entry) opens nothing.
    let again = app.send(Method::GET, &format!("{events_a}?ticket={ticket}"), None, None).await;
    assert_eq!(
        again.expect_error(401, "unauthorized", None)["message"],
        "this ticket was used already; take a new one"
    );
    // Sent eight times at once, it opens one stream.
    let raced = app.ticket(&viewer, &events_a).await;
    let tries = (0..8).map(|_| app.client.get(app.url(&format!("{events_a}?ticket={raced}"))).send());
    let answers = futures_util::future::join_all(tries).await;
    let opened = answers.iter().filter(|a| a.as_ref().unwrap().status() == 200).count();
    assert_eq!(opened, 1, "{:?}", answers.iter().map(|a| a.as_ref().unwrap().status()).collect::<Vec<_>>());
    drop(answers);
    for other in [
        format!("/api/v1/tasks/{b}/events?ticket={ticket}"),
        format!("/api/v1/tasks/{a}/logs/text?ticket={ticket}"),
        format!("/api/v1/tasks/changes?ticket={ticket}"),
    ] {
        assert_eq!(status_of(&app, &other).await, 401, "{other}");
    }
    // Not even the same path spelt another way (no such route).
    assert_eq!(status_of(&app, &format!("{events_a}/?ticket={ticket}")).await, 404);

    // It is no bearer token: not on a read, not on a change.
    for (method, path) in [(Method::GET, "/api/v1/me".to_string()), (Method::GET, format!("/api/v1/tasks/{a}"))] {
        let answer = app.send(method, &path, Some(&ticket), None).await;
        answer.expect_error(401, "unauthorized", None);
    }
    let cancel = app.send(Method::POST, &format!("/api/v1/tasks/{a}/cancel"), Some(&ticket), Some(&json!({}))).await;
    cancel.expect_error(401, "unauthorized", None);
    // Nor does a ticket take another ticket.
    app.send(Method::POST, "/api/v1/auth/tickets", Some(&ticket), Some(&json!({ "path": events_a })))
        .await
        .expect_error(401, "unauthorized", None);
    // A session or API token in its place is refused, and so is a forged one.
    assert_eq!(status_of(&app, &format!("{events_a}?ticket={viewer}")).await, 401);
    let mut forged = ticket.clone();
    forged.pop();
    forged.push(if ticket.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(status_of(&app, &format!("{events_a}?ticket={forged}")).await, 401);

    // Without a session, no ticket.
    app.send(Method::POST, "/api/v1/auth/tickets", None, Some(&json!({ "path": events_a }))).await.expect_error(
        401,
        "unauthorized",
        None,
    );
}

async fn a_ticket_is_only_for_the_paths_a_browser_opens_by_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = &app.admin_token;
    for path in ["/api/v1/tasks/changes", "/api/v1/tasks/7/events", "/api/v1/tasks/7/logs/text"] {
        app.post("/api/v1/auth/tickets", token, &json!({ "path": path })).await.expect(201);
    }
    let long = format!("/api/v1/tasks/{}/events", "9".repeat(300));
    for path in [
        "",
        "/api/v1/me",
        "/api/v1/tasks",
        "/api/v1/tasks/",
        "/api/v1/tasks/x/events",
        "/api/v1/tasks/-1/events",
        "/api/v1/tasks/7/events?after=1",
        "/api/v1/tasks/7/events/../../../me",
        "/api/v1/tasks/7/run",
        "/api/v1/tasks/7/logs",
        "/API/V1/TASKS/CHANGES",
        "/api/v1/tasks/changes\0",
        "/api/v1/tasks/changes\n",
        "/api/v1/tasks/１/events",
        "/api/v1/tasks/99999999999999999999/events",
        long.as_str(),
    ] {
        let answer = app.post("/api/v1/auth/tickets", token, &json!({ "path": path })).await;
        let status = answer.status.as_u16();
        assert!(status == 422 || status == 400, "{path:?}: {status}");
        let body = answer.expect(status);
        assert!(body["field"] == "path" || body["message"].as_str().unwrap().contains("path"), "{path:?}: {body}");
    }
    let unknown = json!({ "path": "/api/v1/tasks/changes", "user": 1 });
    app.post("/api/v1/auth/tickets", token, &unknown).await.expect_error(400, "invalid_body", Some("user"));
    let listed = json!({ "path": ["/api/v1/tasks/changes"] });
    app.post("/api/v1/auth/tickets", token, &listed).await.expect_error(400, "invalid_body", Some("path"));
}

async fn a_ticket_stops_working_with_what_it_was_taken_with(backend: Backend) {
    let app = spawn_app(backend).await;
    let changes = "/api/v1/tasks/changes";

    // Taken with an API token: revoking the token ends the ticket (and a stream it opened).
    let created = app.post("/api/v1/tokens", &app.admin_token, &json!({"name": "feed", "scopes": ["read"]})).await;
    let created = created.expect(201);
    let api_token = created["token"].as_str().unwrap().to_string();
    let token_id = created["info"]["id"].as_str().unwrap().to_string();
    let (by_api, by_api_unused) = (app.ticket(&api_token, changes).await, app.ticket(&api_token, changes).await);
    let open = app.client.get(app.url(&format!("{changes}?ticket={by_api}"))).send().await.unwrap();
    assert_eq!(open.status(), 200);
    app.delete(&format!("/api/v1/tokens/{token_id}"), &app.admin_token).await.expect(200);
    assert_eq!(status_of(&app, &format!("{changes}?ticket={by_api_unused}")).await, 401, "revoked token's ticket");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), open.bytes()).await;
    assert!(ended.is_ok(), "the stream opened with a revoked token's ticket did not end");

    // Taken with a session: ending the user's sessions (a new password) ends the ticket.
    let viewer = app.user("reader", "viewer", &[]).await;
    let (by_session, by_session_unused) = (app.ticket(&viewer, changes).await, app.ticket(&viewer, changes).await);
    assert_eq!(status_of(&app, &format!("{changes}?ticket={by_session}")).await, 200);
    let id = app.get("/api/v1/me", &viewer).await.expect(200)["id"].as_i64().unwrap();
    app.put(&format!("/api/v1/users/{id}"), &app.admin_token, &json!({"password": "another-password-42"}))
        .await
        .expect(200);
    assert_eq!(status_of(&app, &format!("{changes}?ticket={by_session_unused}")).await, 401, "ended session's ticket");

    // A disabled user's ticket opens nothing.
    let other = app.user("other", "viewer", &[]).await;
    let ticket = app.ticket(&other, changes).await;
    let id = app.get("/api/v1/me", &other).await.expect(200)["id"].as_i64().unwrap();
    app.put(&format!("/api/v1/users/{id}"), &app.admin_token, &json!({"disabled": true})).await.expect(200);
    assert_eq!(status_of(&app, &format!("{changes}?ticket={ticket}")).await, 401, "disabled user's ticket");
}

both_backends!(
    a_ticket_opens_its_own_path_and_nothing_else,
    a_ticket_is_only_for_the_paths_a_browser_opens_by_url,
    a_ticket_stops_working_with_what_it_was_taken_with,
);
