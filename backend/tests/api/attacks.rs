//! Holes found by attacking the hardened server (issue 9) as each role would, each sent
//! the way an attacker would send it, through the real server.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};
use crate::sshd::{pair, processes_matching};

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// On Debian `/bin/sh` is dash, whose `kill` refuses `--`: the kill of a timed-out local
/// step failed, its `kill -0` check failed too and said the group was gone, so the step
/// went on running while its pair said `kill_confirmed: true`.
async fn a_timed_out_local_step_is_killed_and_only_then_said_to_be(backend: Backend) {
    let app = spawn_app(backend).await;
    let marker = format!("{}.{}", 3000 + rand_digits(), rand_digits());
    let tpl = app
        .template(
            "sleeper",
            json!({}),
            json!([{"name": "sleep", "group": "local", "timeout_secs": 1,
                    "script": format!("sleep {marker} & sleep {marker}; echo never")}]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({})).await;
    let run = app.wait_status(id, &["failed", "success"]).await;
    let p = pair(&run, 0, "local");
    assert_eq!(p["status"], "timeout", "{run}");
    let left = processes_matching(&format!("sleep {marker}"));
    for line in &left {
        if let Some(pid) = line.split_whitespace().next() {
            let _ = std::process::Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    assert!(left.is_empty(), "the step outlived its timeout: {left:?}; pair {p}");
    assert_eq!(p["kill_confirmed"], true, "{p}");
}

fn rand_digits() -> u32 {
    u32::from_str_radix(&unique()[..4], 16).unwrap() % 1000
}

/// An operator guessed a masked secret: the task digest covered the secret values, so a
/// task of one's own with the guessed value showed the same digest as the victim's task
/// (`GET /tasks/{id}` shows it to viewers). Digests are now bound to their task.
async fn equal_digests_no_longer_tell_a_masked_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post("/api/v1/aliases", &app.admin_token, &json!({"key": "PIN", "label": "pin", "secret": true}))
        .await
        .expect(201);
    let tpl = app
        .template("pin", json!({"extra_params": ["PIN"]}), json!([{"name": "s", "group": "local", "script": "true"}]))
        .await;
    let operator = app.user("mallory", "operator", &[]).await;
    let approver = app.user("alice", "approver", &[]).await;
    let submit = |token: String, pin: &'static str| {
        let body = json!({"template_id": tpl, "schedule": "new", "args": {"PIN": pin}, "hosts": {},
                          "exec_time": "2035-01-01 00:00:00"});
        let app = &app;
        async move { app.post("/api/v1/tasks", &token, &body).await.expect(201) }
    };
    let victim = submit(app.admin_token.clone(), "4711").await;
    let wrong = submit(operator.clone(), "4712").await;
    let right = submit(operator.clone(), "4711").await;
    assert_eq!(right["args"]["PIN"], "******");
    assert_ne!(wrong["digest"], victim["digest"]);
    assert_ne!(right["digest"], victim["digest"], "the digest told the secret: {victim} {right}");
    // The digest still binds the approval to the contents.
    let id = victim["id"].as_i64().unwrap();
    let approved = app.post(&format!("/api/v1/tasks/{id}/approve"), &approver, &json!({})).await.expect(200);
    assert_eq!(approved["approval"]["digest"], approved["digest"], "{approved}");
    assert_eq!(approved["digest"], victim["digest"]);
}

/// Item 15 held for every body but the GitLab webhook's, which was read from a JSON value
/// without the strict rules: `"project": ["group/app"]` was read as the object, by position.
async fn the_gitlab_webhook_refuses_an_array_where_an_object_belongs(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = app.deploy_template().await;
    let secret = "webhook-secret-0123456789";
    let rule = json!({"name": "qa", "project": "group/app", "tag_pattern": "^qa-", "template_id": template,
                      "hosts": {"1": ["web1"], "2": ["api1"]}, "schedule": "new", "secret": secret});
    app.post("/api/v1/gitlab/rules", &app.admin_token, &rule).await.expect(201);
    let zero = "0".repeat(40);
    let push = |project: serde_json::Value| {
        json!({"object_kind": "tag_push", "before": zero, "after": "a".repeat(40), "ref": "refs/tags/qa-1.0",
               "project": project})
    };
    let send = |body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/hooks/gitlab"))
            .header("X-Gitlab-Event", "Tag Push Hook")
            .header("X-Gitlab-Token", secret)
            .json(&body)
            .send()
    };
    let resp = send(push(json!(["group/app"]))).await.unwrap();
    let status = resp.status().as_u16();
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((status, answer["field"].as_str()), (422, Some("project")), "{answer}");
    let resp = send(push(json!({"path_with_namespace": "group/app"}))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
}

/// A template that traces itself (`set -x`, as ops scripts often do) printed a secret
/// holding a `'` as bash quotes it, `'it'\''s…'`, and a JSON document printed it with
/// `\"`: neither is the secret's bytes, so both reached the stored log in clear.
async fn a_secret_traced_by_set_x_or_printed_as_json_is_masked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post("/api/v1/aliases", &app.admin_token, &json!({"key": "DB_PW", "label": "pw", "secret": true}))
        .await
        .expect(201);
    let secret = format!("it's \"{}\" for real", unique());
    let tpl = app
        .template(
            "traced",
            json!({"extra_params": ["DB_PW"]}),
            // An inline script runs under bash; jq prints the JSON document.
            json!([{"name": "s", "group": "local",
                    "script": "set -x\n: connect -p\"$DB_PW\"\nset +x\njq -cn --arg p \"$DB_PW\" '{password: $p}'"}]),
        )
        .await;
    let id = app.run_task(tpl, json!({"DB_PW": secret}), json!({})).await;
    assert_eq!(app.wait_status(id, &["success", "failed"]).await["status"], "success");
    let logs = app.all_logs(id).await;
    let text: Vec<&str> = logs.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(text.iter().any(|t| t.contains("connect '-p******'")), "the trace is logged, masked: {text:?}");
    assert!(text.iter().any(|t| t.contains("{\"password\":\"******\"}")), "{text:?}");
    let tail = &secret[3..];
    assert!(!text.iter().any(|t| t.contains(tail) || t.contains("for real")), "a secret in the log: {text:?}");
}

/// A viewer (or a leaked `read` token) held open as many live streams as it liked on a
/// task that has not started; each reads the database about three times a second, and
/// 1,500 of them took a core and slowed every other answer tenfold.
async fn one_user_cannot_hold_open_unbounded_live_streams(backend: Backend) {
    let app = spawn_app(backend).await;
    let tpl = app.template("waits", json!({}), json!([{"name": "s", "group": "local", "script": "true"}])).await;
    let body = json!({"template_id": tpl, "schedule": "new", "hosts": {}});
    let id = app.post("/api/v1/tasks", &app.admin_token, &body).await.expect(201)["id"].as_i64().unwrap();
    let viewer = app.user("watcher", "viewer", &[]).await;
    let path = format!("/api/v1/tasks/{id}/events");
    let open = |token: String| app.client.get(app.url(&path)).bearer_auth(token).send();
    let mut held = Vec::new();
    // The documented limit: 32 at once per user.
    for _ in 0..32 {
        let resp = open(viewer.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        held.push(resp);
    }
    let refused = open(viewer.clone()).await.unwrap();
    assert_eq!(refused.status().as_u16(), 429, "stream {} was opened", held.len() + 1);
    let answer: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(answer["code"], "busy", "{answer}");
    // Others are not held back by it.
    assert_eq!(open(app.admin_token.clone()).await.unwrap().status().as_u16(), 200);
}

both_backends!(
    one_user_cannot_hold_open_unbounded_live_streams,
    a_secret_traced_by_set_x_or_printed_as_json_is_masked,
    a_timed_out_local_step_is_killed_and_only_then_said_to_be,
    equal_digests_no_longer_tell_a_masked_secret,
    the_gitlab_webhook_refuses_an_array_where_an_object_belongs,
);

/// A stolen session (12 hours) becomes the account for good: `PUT /users/{own id}` sets a
/// new password without the current one, which also ends the owner's other sessions.
/// Fixing it needs a `current_password` field in `UserUpdate` (api-types, the spec and
/// the web UI's form), so it is left to a change of the API.
#[tokio::test]
async fn a_stolen_session_cannot_change_the_password_without_the_current_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let stolen = app.user("victim", "operator", &[]).await;
    let me = app.get("/api/v1/me", &stolen).await.expect(200);
    let path = format!("/api/v1/users/{}", me["id"]);
    let answer = app.put(&path, &stolen, &json!({"password": "attacker-chose-this"})).await;
    assert!(answer.status.is_client_error(), "the password was changed with a session alone: {:?}", answer.body);
}

/// A `raw_params` template with a `local` step would let whoever may submit it run
/// commands on the Taskgate server as the server's user: read `secret.key`, the
/// database, or the server's environment through `/proc/$PPID/environ`. Such templates
/// are refused when saved, and one saved before (raw set afterwards) refuses to run.
#[tokio::test]
async fn an_operator_cannot_run_commands_on_the_taskgate_server_through_a_raw_template() {
    let app = spawn_app(Backend::Sqlite).await;
    let steps = json!([{"name": "build", "group": "local", "script": "echo building {{ VERSION }}"}]);
    let e = app
        .post("/api/v1/templates", &app.admin_token, &json!({"name": "raw build", "raw_params": true, "steps": steps}))
        .await
        .expect_error(422, "invalid", Some("steps[0].group"));
    assert!(e["message"].as_str().unwrap().contains("cannot have local steps"), "{e}");
    // A template from before the rule.
    let tpl = app.template("quoted build", json!({}), steps).await;
    app.execute("UPDATE templates SET raw_params = $1 WHERE id = $2", 1, tpl).await;
    let operator = app.user("mallory", "operator", &[]).await;
    let body = json!({"template_id": tpl, "schedule": "ready", "hosts": {},
                      "args": {"VERSION": "1.0; echo server-side-$((6*7)) $(tr '\\0' '\\n' </proc/$PPID/environ | wc -l)"}});
    let id = app.post("/api/v1/tasks", &operator, &body).await.expect(201)["id"].as_i64().unwrap();
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["pairs"][0]["message"].as_str().unwrap().contains("cannot have local steps"), "{run}");
    let logs = app.all_logs(id).await;
    assert!(!logs.iter().any(|l| l["text"].as_str().unwrap().contains("server-side-42")), "{logs:?}");
}

/// A git pusher's tag reaches a raw template through the server hook, which submits with
/// an operator's token: the hook marks the values the pusher chose, and the server holds
/// them to a pattern as it does for the webhook.
#[tokio::test]
async fn a_pushed_value_marked_external_needs_a_pattern_in_a_raw_template() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = &app.admin_token;
    app.post("/api/v1/aliases", t, &json!({"key": "TAG", "label": "Tag"})).await.expect(201);
    let tpl = app
        .template(
            "raw",
            json!({"raw_params": true}),
            json!([{"name": "s", "group": "1", "script": "deploy {{ TAG }}"}]),
        )
        .await;
    let operator = app.user("hook", "operator", &[]).await;
    let body = |external: serde_json::Value| {
        json!({"template_id": tpl, "schedule": "new", "hosts": {"1": ["web-1"]},
               "args": {"TAG": "v1;id"}, "external_args": external})
    };
    let e = app.post("/api/v1/tasks", &operator, &body(json!(["TAG"]))).await.expect_error(
        422,
        "invalid",
        Some("args.TAG"),
    );
    assert!(e["message"].as_str().unwrap().contains("validation pattern"), "{e}");
    // The operator's own value is the operator's responsibility, as before.
    app.post("/api/v1/tasks", &operator, &body(json!([]))).await.expect(201);
    // With a pattern, the pushed value is checked against it.
    let alias = app.get("/api/v1/aliases", t).await.expect(200)[0]["id"].as_i64().unwrap();
    app.put(&format!("/api/v1/aliases/{alias}"), t, &json!({"key": "TAG", "label": "Tag", "pattern": "v[0-9.]+"}))
        .await
        .expect(200);
    app.post("/api/v1/tasks", &operator, &body(json!(["TAG"]))).await.expect_error(422, "invalid", Some("args.TAG"));
    let mut good = body(json!(["TAG"]));
    good["args"]["TAG"] = json!("v1.2");
    app.post("/api/v1/tasks", &operator, &good).await.expect(201);
}

/// A rendering error may quote a value (`{% include PW %}` names the template it could
/// not find): the pair's message is masked like its log.
#[tokio::test]
async fn a_secret_quoted_by_a_rendering_error_is_masked_in_the_pairs_message() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = &app.admin_token;
    app.post("/api/v1/aliases", t, &json!({"key": "PW", "label": "Password", "secret": true})).await.expect(201);
    let tpl = app
        .template(
            "leaky",
            json!({"extra_params": ["PW"]}),
            json!([{"name": "s", "group": "local", "script": "echo fine"}]),
        )
        .await;
    // The save-time check refuses such a body; a template saved before it existed has one.
    let steps = app.query_text("SELECT steps FROM templates WHERE id = $1", tpl).await;
    app.execute_text(
        "UPDATE templates SET steps = $1 WHERE id = $2",
        &steps.replace("echo fine", "{% include PW %}"),
        tpl,
    )
    .await;
    let id = app.run_task(tpl, json!({"PW": "hunter2-secret-value"}), json!({})).await;
    let run = app.wait_status(id, &["success", "failed"]).await;
    let message = run["pairs"][0]["message"].as_str().unwrap().to_string();
    assert!(!message.contains("hunter2-secret-value"), "{message}");
    assert!(message.contains("******"), "the error still says what went wrong: {message}");
    let events = app.count_events_containing(id, "hunter2-secret-value").await;
    assert_eq!(events, 0, "no stored event holds the secret");
}

/// An approver must see what runs: names and argument values cannot hold bidirectional
/// overrides that display text in another order than it reads.
#[tokio::test]
async fn bidi_overrides_cannot_disguise_a_task_for_its_approver() {
    let app = spawn_app(Backend::Sqlite).await;
    let template = app.deploy_template().await;
    let t = &app.admin_token;
    let mut body = json!({"template_id": template, "schedule": "new", "args": {"TAG": "release-1.0"},
                          "hosts": {"1": ["web-1"], "2": ["api-1"]}, "name": "safe \u{202e}1- esaeler"});
    app.post("/api/v1/tasks", t, &body).await.expect_error(422, "invalid", Some("name"));
    body["name"] = json!("deploy");
    body["details"] = json!("harmless \u{2066}rm -rf\u{2069}");
    app.post("/api/v1/tasks", t, &body).await.expect_error(422, "invalid", Some("details"));
}
