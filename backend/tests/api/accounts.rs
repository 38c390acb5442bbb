//! Login, sessions, API tokens, and the role checks on every route.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, Answer, Backend, TestApp, ADMIN_PASSWORD, PASSWORD};

async fn login_returns_an_expiring_token_and_me_shows_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app
        .send(Method::POST, "/api/v1/auth/login", None, Some(&json!({"username": "admin", "password": ADMIN_PASSWORD})))
        .await
        .expect(200);
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["role"], "admin");
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now(), "session must expire in the future");
    assert!(expires < chrono::Utc::now() + chrono::Duration::hours(13), "session must expire");
    let me = app.get("/api/v1/me", body["token"].as_str().unwrap()).await.expect(200);
    assert_eq!(me["username"], "admin");
    assert!(me.get("password_hash").is_none());
}

async fn wrong_password_and_unknown_user_are_refused_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    for (user, pw) in [("admin", "wrong-password"), ("nobody", "whatever-1")] {
        let a =
            app.send(Method::POST, "/api/v1/auth/login", None, Some(&json!({"username": user, "password": pw}))).await;
        let body = a.expect_error(401, "unauthorized", None);
        assert_eq!(body["message"], "wrong username or password");
    }
}

async fn repeated_failed_logins_are_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = json!({"username": "admin", "password": "guess-guess"});
    for _ in 0..10 {
        app.send(Method::POST, "/api/v1/auth/login", None, Some(&bad)).await.expect(401);
    }
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&bad)).await.expect_error(429, "rate_limited", None);
    // Even the right password waits out the window: the limit is per user and address.
    let good = json!({"username": "admin", "password": ADMIN_PASSWORD});
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&good)).await.expect(429);
}

async fn requests_without_or_with_a_bad_token_get_401(backend: Backend) {
    let app = spawn_app(backend).await;
    app.send(Method::GET, "/api/v1/tasks", None, None).await.expect_error(401, "unauthorized", None);
    app.get("/api/v1/tasks", "not-a-jwt").await.expect_error(401, "unauthorized", None);
    let forged = format!("{}x", &app.admin_token[..app.admin_token.len() - 1]);
    app.get("/api/v1/tasks", &forged).await.expect_error(401, "unauthorized", None);
}

async fn api_token_is_shown_once_works_and_revocation_is_immediate(backend: Backend) {
    let app = spawn_app(backend).await;
    let op = app.user("ops-bot", "operator", &[]).await;
    let created = app
        .post("/api/v1/tokens", &op, &json!({"name": "ci", "scopes": ["read", "task:submit"], "expires_in_days": 30}))
        .await
        .expect(201);
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["info"]["scopes"], json!(["read", "task:submit"]));
    assert!(created["info"]["expires_at"].is_string());
    assert!(created["info"]["last_used_at"].is_null());

    assert_eq!(app.get("/api/v1/me", &token).await.expect(200)["username"], "ops-bot");
    let listed = app.get("/api/v1/tokens", &op).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none(), "the secret is never listed");
    assert!(listed[0]["last_used_at"].is_string(), "use is recorded");

    let revoked = app.delete(&format!("/api/v1/tokens/{id}"), &op).await.expect(200);
    assert!(revoked["revoked_at"].is_string());
    let refused = app.get("/api/v1/me", &token).await.expect_error(401, "unauthorized", None);
    assert!(refused["message"].as_str().unwrap().contains("revoked"));
}

async fn token_scopes_limit_what_it_can_do_and_never_exceed_the_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let read_only =
        app.post("/api/v1/tokens", &app.admin_token, &json!({"name": "ro", "scopes": ["read"]})).await.expect(201);
    let ro = read_only["token"].as_str().unwrap();
    app.get("/api/v1/tasks", ro).await.expect(200);
    let denied = app.post("/api/v1/commands", ro, &json!({"name": "x", "body": "true"})).await.expect_error(
        403,
        "forbidden",
        None,
    );
    assert!(denied["message"].as_str().unwrap().contains("scope"));

    let viewer = app.user("vera", "viewer", &[]).await;
    app.post("/api/v1/tokens", &viewer, &json!({"name": "too-much", "scopes": ["task:submit"]})).await.expect_error(
        422,
        "invalid",
        Some("scopes"),
    );
    let default = app.post("/api/v1/tokens", &viewer, &json!({"name": "default"})).await.expect(201);
    assert_eq!(default["info"]["scopes"], json!(["read"]), "defaults to what the role allows");
}

async fn users_cannot_see_or_revoke_each_others_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user("alice", "operator", &[]).await;
    let bob = app.user("bob", "operator", &[]).await;
    let t = app.post("/api/v1/tokens", &alice, &json!({"name": "a"})).await.expect(201);
    let id = t["info"]["id"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/tokens", &bob).await.expect(200), json!([]));
    app.delete(&format!("/api/v1/tokens/{id}"), &bob).await.expect_error(404, "not_found", None);
    app.get("/api/v1/tokens?all=true", &bob).await.expect_error(403, "forbidden", None);
    let all = app.get("/api/v1/tokens?all=true", &app.admin_token).await.expect(200);
    assert_eq!(all[0]["owner"], "alice");
    app.delete(&format!("/api/v1/tokens/{id}"), &app.admin_token).await.expect(200);
}

async fn each_role_is_refused_where_it_must_be(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let viewer = app.user("vic", "viewer", &[]).await;
    let operator = app.user("otto", "operator", &[]).await;
    let approver = app.user("april", "approver", &[]).await;

    // Viewers read but never submit.
    app.get("/api/v1/templates", &viewer).await.expect(200);
    app.submit(&viewer, template, "new").await.expect_error(403, "forbidden", None);
    // Operators submit but neither approve nor manage the catalogue or users.
    let task = app.submit(&operator, template, "new").await.expect(201);
    let id = task["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/tasks/{id}/approve"), &operator, &json!({})).await.expect_error(403, "forbidden", None);
    app.post("/api/v1/commands", &operator, &json!({"name": "x", "body": "true"})).await.expect_error(
        403,
        "forbidden",
        None,
    );
    app.get("/api/v1/users", &operator).await.expect_error(403, "forbidden", None);
    app.get("/api/v1/audit", &operator).await.expect_error(403, "forbidden", None);
    // Approvers approve but do not manage.
    app.post(&format!("/api/v1/tasks/{id}/approve"), &approver, &json!({})).await.expect(200);
    app.post("/api/v1/hosts", &approver, &json!({"name": "h", "address": "10.0.0.9"})).await.expect_error(
        403,
        "forbidden",
        None,
    );
    app.put("/api/v1/policy", &approver, &json!({"allow_self_approval": true})).await.expect_error(
        403,
        "forbidden",
        None,
    );
    // Admins manage.
    app.post("/api/v1/hosts", &app.admin_token, &json!({"name": "h", "address": "10.0.0.9"})).await.expect(201);
}

async fn disabled_users_lose_access_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.user("dora", "operator", &[]).await;
    let users = app.get("/api/v1/users", &app.admin_token).await.expect(200);
    let id = users.as_array().unwrap().iter().find(|u| u["username"] == "dora").unwrap()["id"].as_i64().unwrap();
    app.put(&format!("/api/v1/users/{id}"), &app.admin_token, &json!({"disabled": true})).await.expect(200);
    app.get("/api/v1/me", &token).await.expect_error(401, "unauthorized", None);
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&json!({"username": "dora", "password": PASSWORD})))
        .await
        .expect(401);
}

async fn users_change_their_own_password_but_not_their_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.user("paul", "operator", &[]).await;
    let me = app.get("/api/v1/me", &token).await.expect(200);
    let path = format!("/api/v1/users/{}", me["id"]);
    // The current password is needed (a stolen session alone cannot take the account).
    app.put(&path, &token, &json!({"password": "new-password-9"})).await.expect_error(
        422,
        "invalid",
        Some("current_password"),
    );
    app.put(&path, &token, &json!({"password": "new-password-9", "current_password": "wrong-guess-1"}))
        .await
        .expect_error(422, "invalid", Some("current_password"));
    app.put(&path, &token, &json!({"password": "new-password-9", "current_password": PASSWORD})).await.expect(200);
    // The change ends the session that made it too: the user logs in again.
    app.get("/api/v1/me", &token).await.expect_error(401, "unauthorized", None);
    let token = app.login("paul", "new-password-9").await;
    app.put(&path, &token, &json!({"role": "admin"})).await.expect_error(403, "forbidden", None);
    app.put(&path, &token, &json!({"password": "short"})).await.expect_error(422, "invalid", Some("password"));
    // An API token, even the user's own, cannot change the password.
    let api = app.post("/api/v1/tokens", &token, &json!({"name": "t"})).await.expect(201);
    app.put(&path, api["token"].as_str().unwrap(), &json!({"password": "stolen-password-1"})).await.expect_error(
        403,
        "forbidden",
        None,
    );
}

async fn user_creation_validates_its_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    app.post("/api/v1/users", t, &json!({"username": "a b", "password": PASSWORD, "role": "viewer"}))
        .await
        .expect_error(422, "invalid", Some("username"));
    app.post("/api/v1/users", t, &json!({"username": "ann", "password": "x", "role": "viewer"})).await.expect_error(
        422,
        "invalid",
        Some("password"),
    );
    app.post("/api/v1/users", t, &json!({"username": "ann", "password": PASSWORD, "role": "root"})).await.expect_error(
        400,
        "invalid_body",
        Some("role"),
    );
    app.post("/api/v1/users", t, &json!({"username": "ann", "password": PASSWORD, "role": "viewer", "email": "nope"}))
        .await
        .expect_error(422, "invalid", Some("email"));
    app.post("/api/v1/users", t, &json!({"username": "ann", "password": PASSWORD, "role": "viewer"})).await.expect(201);
    app.post("/api/v1/users", t, &json!({"username": "ann", "password": PASSWORD, "role": "viewer"}))
        .await
        .expect_error(409, "conflict", None);
}

/// Sends `n` logins at once; returns how many got each status.
async fn concurrent_logins(app: &TestApp, n: usize, body: Value) -> BTreeMap<u16, usize> {
    let answers =
        futures_util::future::join_all((0..n).map(|_| app.send(Method::POST, "/api/v1/auth/login", None, Some(&body))))
            .await;
    let mut counts = BTreeMap::new();
    for a in answers {
        if a.status == 429 {
            assert!(["rate_limited", "busy"].contains(&a.body["code"].as_str().unwrap()), "{}", a.body);
        }
        *counts.entry(a.status.as_u16()).or_default() += 1;
    }
    counts
}

async fn concurrent_wrong_passwords_are_checked_at_most_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let counts = concurrent_logins(&app, 40, json!({"username": "admin", "password": "guess-guess"})).await;
    eprintln!("40 concurrent wrong passwords: {counts:?}");
    let (checked, refused) = (counts.get(&401).copied().unwrap_or(0), counts.get(&429).copied().unwrap_or(0));
    assert_eq!(checked + refused, 40, "only 401 and 429: {counts:?}");
    assert!(checked <= 10, "at most login_max_failures (10) passwords checked: {counts:?}");
    assert!(refused >= 30, "{counts:?}");
    // The limit holds afterwards too, even for the right password.
    let good = json!({"username": "admin", "password": ADMIN_PASSWORD});
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&good)).await.expect_error(429, "rate_limited", None);
}

async fn spraying_many_usernames_from_one_address_is_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.login_max_address_failures = 5).await;
    for i in 0..5 {
        let body = json!({"username": format!("guess{i}"), "password": "guess-guess"});
        app.send(Method::POST, "/api/v1/auth/login", None, Some(&body)).await.expect(401);
    }
    // A sixth username, never tried before, is refused without a check: the address is spent.
    let body = json!({"username": "guess5", "password": "guess-guess"});
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&body)).await.expect_error(429, "rate_limited", None);
    let good = json!({"username": "admin", "password": ADMIN_PASSWORD});
    app.send(Method::POST, "/api/v1/auth/login", None, Some(&good)).await.expect_error(429, "rate_limited", None);
}

async fn logins_in_bulk_leave_the_server_answering(backend: Backend) {
    let app = spawn_app(backend).await;
    // Forty usernames, each tried once: every attempt is within the limits, so each one
    // costs a password check.
    let logins = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        async move {
            let sent = (0..40).map(|i| {
                client.post(&url).json(&json!({"username": format!("user{i}"), "password": "guess-guess"})).send()
            });
            futures_util::future::join_all(sent).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect()
        }
    });
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    while !logins.is_finished() {
        let started = Instant::now();
        app.client.get(app.url("/healthz")).send().await.unwrap().error_for_status().expect("healthz answers");
        slowest = slowest.max(started.elapsed());
        probes += 1;
    }
    let statuses: Vec<u16> = logins.await.unwrap();
    eprintln!("40 concurrent logins: {probes} /healthz probes meanwhile, slowest {slowest:?}; statuses {statuses:?}");
    assert!(probes > 0, "/healthz was asked while the logins ran");
    assert!(statuses.iter().all(|s| [401, 429].contains(s)), "{statuses:?}");
}

async fn a_token_cannot_create_a_token_with_scopes_it_lacks(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = &app.admin_token;
    let created = app.post("/api/v1/tokens", t, &json!({"name": "ra", "scopes": ["read", "admin"]})).await.expect(201);
    let read_admin = created["token"].as_str().unwrap();
    for wider in [json!(["task:submit"]), json!(["read", "task:approve"]), json!(["read", "admin", "task:submit"])] {
        app.post("/api/v1/tokens", read_admin, &json!({"name": "wider", "scopes": wider})).await.expect_error(
            422,
            "invalid",
            Some("scopes"),
        );
    }
    let default = app.post("/api/v1/tokens", read_admin, &json!({"name": "default"})).await.expect(201);
    assert_eq!(default["info"]["scopes"], json!(["read", "admin"]), "defaults to the calling token's scopes");
    let narrower = app.post("/api/v1/tokens", read_admin, &json!({"name": "ro", "scopes": ["read"]})).await.expect(201);
    assert_eq!(narrower["info"]["scopes"], json!(["read"]));
    // A login session still gets every scope its role allows.
    let full = app.post("/api/v1/tokens", t, &json!({"name": "full"})).await.expect(201);
    assert_eq!(full["info"]["scopes"], json!(["read", "task:submit", "task:approve", "admin"]));
}

async fn sessions_end_on_password_role_or_disable_and_reenabling_does_not_revive_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.user("sam", "operator", &[]).await;
    let me = app.get("/api/v1/me", &first).await.expect(200);
    let path = format!("/api/v1/users/{}", me["id"]);
    let api = app.post("/api/v1/tokens", &first, &json!({"name": "script"})).await.expect(201);
    let api = api["token"].as_str().unwrap().to_string();
    let ended = |answer: Answer| {
        let body = answer.expect_error(401, "unauthorized", None);
        assert!(body["message"].as_str().unwrap().contains("log in again"), "{body}");
    };

    // An admin resets the password (say, after a leak): the old sessions end, API tokens stay.
    app.put(&path, &app.admin_token, &json!({"password": "reset-password-2"})).await.expect(200);
    ended(app.get("/api/v1/me", &first).await);
    app.get("/api/v1/me", &api).await.expect(200);
    let second = app.login("sam", "reset-password-2").await;

    // A new role ends sessions; saving the same role again does not.
    app.put(&path, &app.admin_token, &json!({"role": "viewer"})).await.expect(200);
    ended(app.get("/api/v1/me", &second).await);
    let third = app.login("sam", "reset-password-2").await;
    app.put(&path, &app.admin_token, &json!({"role": "viewer", "display_name": "Sam", "disabled": false}))
        .await
        .expect(200);
    app.get("/api/v1/me", &third).await.expect(200);

    // Disabling refuses everything; re-enabling brings back the API token, not the session.
    app.put(&path, &app.admin_token, &json!({"disabled": true})).await.expect(200);
    app.get("/api/v1/me", &third).await.expect_error(401, "unauthorized", None);
    app.get("/api/v1/me", &api).await.expect_error(401, "unauthorized", None);
    app.put(&path, &app.admin_token, &json!({"disabled": false})).await.expect(200);
    ended(app.get("/api/v1/me", &third).await);
    app.get("/api/v1/me", &api).await.expect(200);
    app.login("sam", "reset-password-2").await;
}

both_backends!(
    concurrent_wrong_passwords_are_checked_at_most_the_limit,
    spraying_many_usernames_from_one_address_is_limited,
    logins_in_bulk_leave_the_server_answering,
    a_token_cannot_create_a_token_with_scopes_it_lacks,
    sessions_end_on_password_role_or_disable_and_reenabling_does_not_revive_them,
    login_returns_an_expiring_token_and_me_shows_the_user,
    wrong_password_and_unknown_user_are_refused_alike,
    repeated_failed_logins_are_rate_limited,
    requests_without_or_with_a_bad_token_get_401,
    api_token_is_shown_once_works_and_revocation_is_immediate,
    token_scopes_limit_what_it_can_do_and_never_exceed_the_role,
    users_cannot_see_or_revoke_each_others_tokens,
    each_role_is_refused_where_it_must_be,
    disabled_users_lose_access_at_once,
    users_change_their_own_password_but_not_their_role,
    user_creation_validates_its_input,
);
